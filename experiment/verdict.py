"""The plain-language decision, and which test it rests on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .bayesian import BayesianResult
from .results import ComparisonResult
from .sequential import SequentialResult
from .srm import SrmResult

Decision = Literal["ship", "keep running", "stop: harm", "inconclusive"]
SHIP, KEEP_RUNNING, HARM, INCONCLUSIVE = "ship", "keep running", "stop: harm", "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """``decision`` for ``arm`` (the challenger it concerns), the test it rests on, and why."""

    decision: Decision
    rests_on: str
    reason: str
    arm: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ArmEvidence:
    """Everything the verdict needs about one challenger."""

    arm: str
    impressions: int                  # randomisation units so far (``unit``), or up to the plan's horizon
    control_impressions: int
    sequential: SequentialResult
    fixed: ComparisonResult           # the user-level test (the randomisation unit), up to the horizon
    bayesian: BayesianResult
    unit: str = "impressions"


def _pct(x: float) -> str:
    return f"{100.0 * x:+.2f} pp"


def arm_verdict(evidence: ArmEvidence, decision_rule: str, planned_per_arm: int | None,
                loss_threshold: float = 0.001) -> Verdict:
    """Decide for one challenger.

    ``sequential`` (default): the always-valid mSPRT may be read at any time; ship or stop
    when its confidence sequence excludes zero, otherwise keep running until the planned
    sample size, then call it inconclusive. ``fixed``: the user-level z-test on the data up to the
    planned horizon is read once both arms reach ``planned_per_arm`` units; before that, keep running.
    ``bayesian``: ship when the expected CTR lost by shipping is below ``loss_threshold``
    and the challenger is more likely better; stop when keeping control is that safe and the
    challenger is more likely worse (no error-rate guarantee under peeking).
    """
    e = evidence
    if decision_rule == "bayesian":
        return _bayesian_verdict(e, planned_per_arm, loss_threshold)
    n = min(e.impressions, e.control_impressions)
    reached = planned_per_arm is not None and n >= planned_per_arm
    bayes = (f"P(challenger better) = {e.bayesian.probability_challenger_better:.1%}, "
             f"expected loss if shipped = {e.bayesian.expected_loss_challenger:.5f}")
    if decision_rule == "fixed":  # only the data up to the horizon: the same answer at every later read
        test = e.fixed
        if not reached:
            return Verdict(KEEP_RUNNING, f"{test.test} at the planned sample size",
                           f"{n} of {planned_per_arm} {e.unit} per arm; a fixed-horizon test must not "
                           f"be read early", e.arm)
        if test.significant and test.difference > 0:
            return Verdict(SHIP, test.test, f"CTR difference {_pct(test.difference)}, p = {test.p_value:.4g} "
                           f"at the planned {planned_per_arm} {e.unit} per arm", e.arm)
        if test.significant and test.difference < 0:
            return Verdict(HARM, test.test, f"CTR difference {_pct(test.difference)}, p = {test.p_value:.4g} "
                           f"at the planned {planned_per_arm} {e.unit} per arm", e.arm)
        return Verdict(INCONCLUSIVE, test.test, f"no significant difference at the planned sample size of "
                       f"{planned_per_arm} {e.unit} per arm (p = {test.p_value:.4g})", e.arm)
    seq = e.sequential
    ci = f"[{_pct(seq.ci[0])}, {_pct(seq.ci[1])}]"
    # the confidence sequence, not the latest estimate, says which side of zero the effect is on
    direction = 1 if seq.ci[0] > 0 else -1 if seq.ci[1] < 0 else (1 if seq.difference > 0 else -1)
    if seq.significant and direction > 0:
        return Verdict(SHIP, seq.test, f"always-valid interval for the CTR difference {ci} excludes zero "
                       f"(p = {seq.p_value:.4g}, decided at {seq.decided_at} impressions; {bayes})", e.arm)
    if seq.significant and direction < 0:
        return Verdict(HARM, seq.test, f"always-valid interval for the CTR difference {ci} is below zero "
                       f"(p = {seq.p_value:.4g}, decided at {seq.decided_at} impressions; {bayes})", e.arm)
    if reached:
        return Verdict(INCONCLUSIVE, seq.test, f"planned {planned_per_arm} {e.unit} per arm reached without "
                       f"a decision; the difference lies in {ci} ({bayes})", e.arm)
    progress = f"{n} of {planned_per_arm}" if planned_per_arm else f"{n}"
    return Verdict(KEEP_RUNNING, seq.test, f"no decision yet at {progress} {e.unit} per arm; "
                   f"the difference lies in {ci}, safe to keep watching ({bayes})", e.arm)


def _bayesian_verdict(e: ArmEvidence, planned_per_arm: int | None, loss_threshold: float) -> Verdict:
    b = e.bayesian
    rests_on = f"{b.test} expected loss (threshold {loss_threshold:g})"
    facts = (f"P(challenger better) = {b.probability_challenger_better:.1%}, expected loss if shipped = "
             f"{b.expected_loss_challenger:.5f}, if kept = {b.expected_loss_control:.5f}")
    if b.errors:
        return Verdict(KEEP_RUNNING, rests_on, "no data in one of the arms yet", e.arm)
    if b.probability_challenger_better > 0.5 and b.expected_loss_challenger < loss_threshold:
        return Verdict(SHIP, rests_on, facts, e.arm)
    if b.probability_challenger_better < 0.5 and b.expected_loss_control < loss_threshold:
        return Verdict(HARM, rests_on, facts, e.arm)
    n = min(e.impressions, e.control_impressions)
    if planned_per_arm is not None and n >= planned_per_arm:
        return Verdict(INCONCLUSIVE, rests_on, f"planned sample size reached; {facts}", e.arm)
    return Verdict(KEEP_RUNNING, rests_on, facts, e.arm)


def overall_verdict(srm: SrmResult, per_arm: list[Verdict], lifts: dict[str, float]) -> Verdict:
    """Combine the challengers' verdicts; a sample-ratio mismatch overrides everything."""
    if srm.mismatch:
        return Verdict(INCONCLUSIVE, "sample-ratio mismatch check",
                       f"the traffic split {_shares(srm)} differs from the configured one "
                       f"(chi-square p = {srm.p_value:.2g} < {srm.threshold}); find the cause before "
                       f"trusting any result")
    ships = [v for v in per_arm if v.decision == SHIP]
    if ships:
        return max(ships, key=lambda v: lifts.get(v.arm or "", 0.0))
    if per_arm and all(v.decision == HARM for v in per_arm):
        return per_arm[0]
    for decision in (KEEP_RUNNING, INCONCLUSIVE, HARM):
        for v in per_arm:
            if v.decision == decision:
                return v
    return Verdict(INCONCLUSIVE, "none", "no challenger to compare")


def _shares(srm: SrmResult) -> str:
    return "/".join(f"{100 * s:.1f}" for s in srm.observed_shares)
