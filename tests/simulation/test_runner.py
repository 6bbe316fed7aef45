"""The worker pool: pacing, one visit per user at a time, a failing worker stops the run, bad arguments."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from funflix.simulation.runner import Visitor, run_sessions
from funflix.simulation.sessions import SessionOutcome


class SleepyVisitor(Visitor):
    """Visits that take ``seconds``; records how many visits of each user overlap."""

    def __init__(self, seconds: float, state: dict):
        self.seconds, self.state = seconds, state

    def visit(self, plan) -> SessionOutcome:
        with self.state["lock"]:
            self.state["active"][plan.user_id] = self.state["active"].get(plan.user_id, 0) + 1
            self.state["most"] = max(self.state["most"], self.state["active"][plan.user_id])
        time.sleep(self.seconds)
        with self.state["lock"]:
            self.state["active"][plan.user_id] -= 1
        return SessionOutcome(plan.index, plan.user_id)


def new_state() -> dict:
    return {"lock": threading.Lock(), "active": {}, "most": 0}


def test_pacing_spaces_session_starts():
    start = time.perf_counter()
    result = run_sessions(lambda: SleepyVisitor(0.0, new_state()), 6, np.arange(1, 100), workers=6, per_minute=600,
                          progress=False)
    elapsed = time.perf_counter() - start
    assert result.summary.sessions == 6
    assert 0.45 <= elapsed < 1.5, "six starts 0.1 s apart"


def test_a_user_never_has_two_visits_at_once():
    state = new_state()
    result = run_sessions(lambda: SleepyVisitor(0.01, state), 60, np.array([1, 2]), workers=4, progress=False)
    assert result.summary.sessions == 60 and state["most"] == 1


def test_a_worker_that_cannot_start_fails_the_run():
    def broken():
        raise RuntimeError("no browser here")

    with pytest.raises(RuntimeError, match="no browser here"):
        run_sessions(broken, 5, np.arange(1, 10), workers=2, progress=False)


@pytest.mark.parametrize("options, message", [
    ({"sessions": -1}, "sessions"), ({"workers": 0}, "workers"), ({"per_minute": 0}, "rate"),
])
def test_bad_arguments(options, message):
    arguments = {"sessions": 3, "workers": 1, **options}
    with pytest.raises(ValueError, match=message):
        run_sessions(lambda: SleepyVisitor(0, new_state()), user_ids=np.arange(1, 5), progress=False, **arguments)
