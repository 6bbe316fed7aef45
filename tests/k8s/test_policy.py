"""The watch's decision policy, driven by sequences of verdict readings over simulated time."""

from __future__ import annotations

import pytest

from funflix.k8s.policy import FREEZE, HOLD, RAMP, ROLLBACK, Reading, State, WatchSettings, decide, split_for

SETTINGS = WatchSettings(control="control", interval=60, steps=(0.5, 0.75, 1.0), dwell=600, threshold=2)
EVEN = {"control": 0.5, "challenger": 0.5}
SHIP = Reading("ship", "challenger")


def run(readings: list[Reading], settings: WatchSettings = SETTINGS, split: dict = EVEN) -> list[tuple]:
    """Apply the policy to one reading per interval as the watch would: (time, action kind, split after)."""
    state, trace = State(dict(split), changed_at=0.0), []
    for tick, reading in enumerate(readings, start=1):
        now = tick * settings.interval
        action = decide(settings, state, reading, now)
        if action.kind in (RAMP, ROLLBACK):
            state = State(action.split, changed_at=now)
        elif action.kind == FREEZE:
            state = State(state.split, state.changed_at, frozen=True)
        else:
            state = State(state.split, state.changed_at, state.frozen, action.failed_checks)
        trace.append((now, action.kind, state.split.get("challenger")))
    return trace


def test_a_winner_is_ramped_in_steps_after_the_dwell_at_each():
    trace = run([SHIP] * 30)
    ramps = [(now, share) for now, kind, share in trace if kind == RAMP]
    assert ramps == [(600, 0.75), (1200, 1.0)]  # 0.5 is where it starts; 600 s at each step
    assert trace[-1] == (1800, HOLD, 1.0)


def test_harm_rolls_back_at_once_even_mid_dwell():
    trace = run([Reading("keep running")] * 2 + [Reading("stop: harm", "challenger")] + [Reading("keep running")] * 3)
    assert trace[2] == (180, ROLLBACK, 0.0)
    assert [kind for _, kind, _ in trace[3:]] == [HOLD] * 3


def test_harm_after_a_ramp_step_rolls_back_to_control():
    trace = run([SHIP] * 10 + [Reading("stop: harm", "challenger")])
    assert trace[9][2] == 0.75 and trace[10] == (660, ROLLBACK, 0.0)


def test_an_a_a_test_is_left_alone():
    trace = run([Reading("keep running")] * 20 + [Reading("inconclusive")] * 5)
    assert {kind for _, kind, _ in trace} == {HOLD} and trace[-1][2] == 0.5


def test_a_sample_ratio_mismatch_freezes_and_nothing_acts_after_it():
    trace = run([Reading("keep running", srm=True)] + [SHIP] * 20 + [Reading("stop: harm", "challenger")])
    assert trace[0][1] == FREEZE
    assert {kind for _, kind, _ in trace[1:]} == {HOLD} and trace[-1][2] == 0.5


def test_a_fixed_horizon_reading_is_not_acted_on_before_its_horizon():
    early = [Reading("stop: harm", "challenger", fixed_horizon=True, horizon_reached=False)] * 15
    assert {kind for _, kind, _ in run(early)} == {HOLD}
    reached = early + [Reading("stop: harm", "challenger", fixed_horizon=True, horizon_reached=True)]
    assert run(reached)[-1][1] == ROLLBACK


def test_failed_guardrails_hold_the_ramp_then_roll_back_at_the_threshold():
    bad = Reading("ship", "challenger", guardrails_ok=False, guardrail_reason="gateway error rate 0.2 > 0.05")
    trace = run([SHIP] * 19 + [bad, SHIP])
    assert trace[9][2] == 0.75 and trace[19] == (1200, HOLD, 0.75)  # dwell over, but the guardrail failed
    assert trace[20] == (1260, RAMP, 1.0)
    trace = run([SHIP] * 10 + [bad, SHIP] * 3 + [bad, bad])
    assert [kind for _, kind, _ in trace[10:16]] == [HOLD] * 6  # a good reading in between resets the count
    assert trace[-1][1] == ROLLBACK and trace[-1][2] == 0.0


def test_guardrails_do_not_count_once_control_takes_everything():
    bad = Reading("keep running", guardrails_ok=False, guardrail_reason="latency")
    assert {kind for _, kind, _ in run([bad] * 5, split={"control": 1.0, "challenger": 0.0})} == {HOLD}


def test_control_winning_is_not_a_ramp():
    assert {kind for _, kind, _ in run([Reading("ship", "control")] * 20)} == {HOLD}


def test_three_arms_ramp_the_winner_and_share_the_rest():
    assert split_for(["control", "a", "b"], "b", 0.75) == {"control": 0.125, "a": 0.125, "b": 0.75}


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": (0.75, 0.5, 1.0)}, "increasing"), ({"steps": (0.5, 0.75)}, "last step must be 1.0"),
    ({"threshold": 0}, "threshold"), ({"interval": 0}, "interval")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WatchSettings(**kwargs)
