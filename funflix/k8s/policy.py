"""What ``funflix k8s watch`` does with one reading of the verdict: a pure function of data.

Settings take the shape of Flagger's ``Canary.spec.analysis``: an ``interval`` between readings,
``steps`` (the winner's traffic share at each ramp step, e.g. 0.5 -> 0.75 -> 1.0), a minimum
``dwell`` at each step, and a ``threshold`` of failed guardrail checks before a rollback.

- a sample-ratio mismatch freezes the split (and the watch raises a Warning Event); a frozen
  experiment stays as it is until someone sets the split by hand;
- a fixed-horizon reading before its horizon is never acted on;
- "stop: harm" rolls back to control at once;
- "ship" ramps the winner one step at a time, each after ``dwell`` seconds at the step before and
  only while the guardrails hold; ``threshold`` failed guardrail checks in a row roll back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from funflix.experiment.verdict import HARM, SHIP

HOLD, RAMP, ROLLBACK, FREEZE = "hold", "ramp", "rollback", "freeze"
ActionKind = Literal["hold", "ramp", "rollback", "freeze"]


@dataclass(frozen=True)
class WatchSettings:
    """How the watch acts (Flagger's ``analysis``: interval, stepWeights, threshold)."""

    control: str = "control"
    interval: float = 60.0
    steps: tuple[float, ...] = (0.5, 0.75, 1.0)
    dwell: float = 600.0
    threshold: int = 2

    def __post_init__(self) -> None:
        if not self.steps or any(not 0.0 < s <= 1.0 for s in self.steps) or list(self.steps) != sorted(self.steps):
            raise ValueError(f"steps must be increasing shares in (0, 1], got {list(self.steps)}")
        if self.steps[-1] != 1.0:
            raise ValueError(f"the last step must be 1.0 (the winner takes all traffic), got {self.steps[-1]:g}")
        if self.interval <= 0 or self.dwell < 0:
            raise ValueError("interval must be positive and dwell not negative")
        if self.threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {self.threshold}")


@dataclass(frozen=True)
class Reading:
    """One reading of the verdict (``funflix.experiment.verdict``) and of the guardrails."""

    decision: str
    arm: str | None = None
    srm: bool = False
    fixed_horizon: bool = False
    horizon_reached: bool = False
    guardrails_ok: bool = True
    guardrail_reason: str = ""


@dataclass(frozen=True)
class State:
    """The experiment as the cluster holds it: the split, when it last changed, and whether it is frozen."""

    split: dict[str, float]
    changed_at: float
    frozen: bool = False
    failed_checks: int = 0


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    reason: str
    split: dict[str, float] | None = None
    failed_checks: int = 0


def split_for(arms: list[str], winner: str, share: float) -> dict[str, float]:
    """``winner`` at ``share``; the other arms share the rest equally."""
    others = [arm for arm in arms if arm != winner]
    return {arm: share if arm == winner else round((1.0 - share) / len(others), 6) for arm in arms}


def next_step(settings: WatchSettings, share: float) -> float | None:
    """The first step above ``share`` (None when the winner already has all traffic)."""
    return next((step for step in settings.steps if step > share + 1e-9), None)


def decide(settings: WatchSettings, state: State, reading: Reading, now: float) -> Action:
    """The one action for this reading."""
    arms = list(state.split)
    if state.frozen:
        return Action(HOLD, "frozen after a sample-ratio mismatch: set the split by hand to resume")
    if reading.srm:
        return Action(FREEZE, "sample-ratio mismatch: the observed split differs from the configured one")
    control_only = state.split.get(settings.control, 0.0) >= 1.0
    failed = 0 if reading.guardrails_ok or control_only else state.failed_checks + 1
    if failed >= settings.threshold:
        return Action(ROLLBACK, f"guardrail failed {failed} times in a row: {reading.guardrail_reason}",
                      split_for(arms, settings.control, 1.0))
    if reading.fixed_horizon and not reading.horizon_reached:
        return Action(HOLD, "fixed-horizon test before its horizon: not read", failed_checks=failed)
    if reading.decision == HARM and not control_only:
        return Action(ROLLBACK, f"verdict stop: harm for {reading.arm}", split_for(arms, settings.control, 1.0))
    if reading.decision != SHIP or reading.arm is None or reading.arm == settings.control:
        return Action(HOLD, f"verdict {reading.decision}", failed_checks=failed)
    step = next_step(settings, state.split.get(reading.arm, 0.0))
    if step is None:
        return Action(HOLD, f"{reading.arm} already takes all traffic", failed_checks=failed)
    if failed:
        return Action(HOLD, f"guardrail failed ({reading.guardrail_reason}): not ramping", failed_checks=failed)
    waited = now - state.changed_at
    if waited < settings.dwell:
        return Action(HOLD, f"dwell: {waited:.0f} of {settings.dwell:.0f} s at this step", failed_checks=failed)
    return Action(RAMP, f"verdict ship for {reading.arm}: {step:.0%} of traffic",
                  split_for(arms, reading.arm, step))
