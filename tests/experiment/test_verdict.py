import pytest

from funflix.experiment.bayesian import BayesianResult
from funflix.experiment.results import ComparisonResult
from funflix.experiment.sequential import SequentialResult
from funflix.experiment.srm import SrmResult
from funflix.experiment.verdict import ArmEvidence, Verdict, arm_verdict, overall_verdict

MSPRT = SequentialResult().test
USER = "user-level delta-method z-test"


def evidence(seq_diff=0.0, seq_sig=False, ci=(-0.01, 0.01), fixed_diff=0.0, fixed_sig=False, n=1000, arm="challenger"):
    return ArmEvidence(
        arm=arm, impressions=n, control_impressions=n,
        sequential=SequentialResult(difference=seq_diff, ci=ci, significant=seq_sig, p_value=0.01 if seq_sig else 0.5,
                                    decided_at=800 if seq_sig else None),
        fixed=ComparisonResult(test=USER, difference=fixed_diff, significant=fixed_sig,
                               p_value=0.01 if fixed_sig else 0.4),
        bayesian=BayesianResult(probability_challenger_better=0.97, expected_loss_challenger=0.0002))


@pytest.mark.parametrize("kwargs, planned, decision", [
    (dict(seq_diff=0.03, seq_sig=True, ci=(0.01, 0.05)), None, "ship"),
    (dict(seq_diff=-0.03, seq_sig=True, ci=(-0.05, -0.01)), None, "stop: harm"),
    (dict(seq_diff=0.01), None, "keep running"),
    # the latest estimate dipped below zero, but the always-valid interval already lies above it
    (dict(seq_diff=-0.001, seq_sig=True, ci=(0.001, 0.02)), None, "ship"),
    (dict(seq_diff=0.01), 2000, "keep running"),
    (dict(seq_diff=0.01, n=2500), 2000, "inconclusive"),
    # a fixed-horizon z-test that happens to be significant does not move the sequential verdict
    (dict(seq_diff=0.01, fixed_diff=0.02, fixed_sig=True), None, "keep running"),
])
def test_sequential_rule(kwargs, planned, decision):
    verdict = arm_verdict(evidence(**kwargs), "sequential", planned)
    assert verdict.decision == decision and verdict.rests_on == MSPRT and verdict.arm == "challenger"
    assert "P(challenger better) = 97.0%" in verdict.reason


@pytest.mark.parametrize("kwargs, planned, decision", [
    (dict(fixed_diff=0.03, fixed_sig=True, n=900), 925, "keep running"),  # never read a fixed test early
    (dict(fixed_diff=0.03, fixed_sig=True, n=925), 925, "ship"),
    (dict(fixed_diff=-0.03, fixed_sig=True, n=925), 925, "stop: harm"),
    (dict(fixed_diff=0.001, n=925), 925, "inconclusive"),
    (dict(fixed_diff=0.03, fixed_sig=True), None, "keep running"),  # no plan, no read
])
def test_fixed_horizon_rule(kwargs, planned, decision):
    verdict = arm_verdict(evidence(**kwargs), "fixed", planned)
    assert verdict.decision == decision and USER in verdict.rests_on


@pytest.mark.parametrize("p_better, loss_ship, loss_keep, planned, n, decision", [
    (0.98, 0.0002, 0.02, None, 1000, "ship"),
    (0.98, 0.002, 0.02, None, 1000, "keep running"),   # likely better, but too much at stake
    (0.03, 0.02, 0.0003, None, 1000, "stop: harm"),
    (0.60, 0.004, 0.006, 900, 1000, "inconclusive"),
])
def test_bayesian_rule(p_better, loss_ship, loss_keep, planned, n, decision):
    e = evidence(n=n)
    e = ArmEvidence(e.arm, e.impressions, e.control_impressions, e.sequential, e.fixed,
                    BayesianResult(probability_challenger_better=p_better, expected_loss_challenger=loss_ship,
                                   expected_loss_control=loss_keep))
    verdict = arm_verdict(e, "bayesian", planned, loss_threshold=0.001)
    assert verdict.decision == decision and "expected loss" in verdict.rests_on


def test_sample_ratio_mismatch_overrides_a_winner():
    ship = arm_verdict(evidence(seq_diff=0.03, seq_sig=True, ci=(0.01, 0.05)), "sequential", None)
    srm = SrmResult(arms=("control", "challenger"), observed=(5200, 4800), observed_shares=(0.52, 0.48),
                    p_value=1e-5, mismatch=True)
    verdict = overall_verdict(srm, [ship], {"challenger": 0.3})
    assert verdict.decision == "inconclusive" and verdict.rests_on == "sample-ratio mismatch check"
    assert "52.0/48.0" in verdict.reason
    assert overall_verdict(SrmResult(), [ship], {"challenger": 0.3}) == ship


def test_several_challengers():
    a = Verdict("ship", MSPRT, "", "a")
    b = Verdict("ship", MSPRT, "", "b")
    harm = Verdict("stop: harm", MSPRT, "", "c")
    keep = Verdict("keep running", MSPRT, "", "d")
    assert overall_verdict(SrmResult(), [a, b, harm], {"a": 0.1, "b": 0.2}).arm == "b"  # best lift wins
    assert overall_verdict(SrmResult(), [harm, keep], {}).decision == "keep running"
    assert overall_verdict(SrmResult(), [harm, harm], {}).decision == "stop: harm"
    assert overall_verdict(SrmResult(), [], {}).decision == "inconclusive"
