"""Run many simulated visits with parallel workers, optional pacing, a progress bar and clean shutdown.

Each worker thread owns one visitor (an HTTP visitor, or a browser it reuses for every visit) and
takes the next session index until the run is done or stopped. One user never has two visits at the
same time (the site would close the first visit's row when the second one renders its own). Ctrl-C
stops new visits, lets running ones finish (and sign out), closes the visitors and returns the
partial summary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from funflix.simulation.sessions import SessionOutcome, SessionPlan, Summary, plan_session

log = logging.getLogger(__name__)


class Visitor:
    """What a worker drives: ``visit(plan) -> SessionOutcome`` and ``close()``."""

    def visit(self, plan: SessionPlan) -> SessionOutcome:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class UserLocks:
    """One lock per user id, so a user is simulated by one worker at a time."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[int, threading.Lock] = {}

    @contextmanager
    def hold(self, user_id: int):
        with self._guard:
            lock = self._locks.setdefault(user_id, threading.Lock())
        with lock:
            yield


class Pacer:
    """Spaces session starts to at most ``per_minute`` across all workers (None: no pacing)."""

    def __init__(self, per_minute: float | None):
        if per_minute is not None and per_minute <= 0:
            raise ValueError(f"the session rate must be > 0 per minute, got {per_minute}")
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Block until this worker may start a session; False if the run was stopped meanwhile."""
        if not self.interval:
            return not stop.is_set()
        with self._lock:
            slot = max(time.monotonic(), self._next)
            self._next = slot + self.interval
        return not stop.wait(max(0.0, slot - time.monotonic()))


@dataclass
class RunResult:
    summary: Summary
    requested: int
    workers: int
    seconds: float
    interrupted: bool

    @property
    def sessions_per_minute(self) -> float:
        return 60.0 * self.summary.sessions / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"requested": self.requested, "workers": self.workers, "seconds": round(self.seconds, 3),
                "sessions_per_minute": round(self.sessions_per_minute, 1), "interrupted": self.interrupted,
                **self.summary.to_dict()}


def run_sessions(make_visitor: Callable[[], Visitor], sessions: int, user_ids: np.ndarray, seed: int = 0,
                 workers: int = 2, per_minute: float | None = None, progress: bool = True,
                 description: str = "simulate") -> RunResult:
    """Run ``sessions`` visits (session ``i`` planned by :func:`plan_session`) on ``workers`` threads."""
    if sessions < 0:
        raise ValueError(f"sessions must be >= 0, got {sessions}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if len(user_ids) == 0:
        raise ValueError("no simulated users")
    summary, locks, pacer = Summary(), UserLocks(), Pacer(per_minute)
    stop, counter_lock = threading.Event(), threading.Lock()
    next_index = iter(range(sessions))
    failures: list[BaseException] = []
    bar = tqdm(total=sessions, desc=description, unit="session", disable=not progress, leave=False)

    def take() -> int | None:
        with counter_lock:
            return next(next_index, None)

    def work(finished: threading.Event) -> None:
        visitor = None
        try:
            visitor = make_visitor()
            while not stop.is_set():
                index = take()
                if index is None or not pacer.wait(stop):
                    return
                plan = plan_session(seed, index, user_ids)
                with locks.hold(plan.user_id):
                    outcome = visitor.visit(plan)
                summary.add(outcome)
                bar.update(1)
        except BaseException as exc:  # a worker that cannot start (e.g. no browser) stops the run
            failures.append(exc)
            stop.set()
        finally:
            try:
                if visitor is not None:
                    visitor.close()
            finally:
                finished.set()

    start = time.perf_counter()
    # Workers report their end through events: on Python 3.11 a Ctrl-C that interrupts Thread.join
    # can mark a still-running thread as stopped, and the process would exit before it closed its browser.
    finished = [threading.Event() for _ in range(min(workers, max(sessions, 1)))]
    threads = [threading.Thread(target=work, args=(done,), name=f"simulate-{i}", daemon=True)
               for i, done in enumerate(finished)]
    interrupted = False
    try:
        for thread in threads:
            thread.start()
        for done in finished:
            while not done.wait(timeout=0.2):
                pass
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        log.warning("interrupted: finishing running visits and closing workers")
        for done in finished:
            done.wait(timeout=60)
    finally:
        bar.close()
    if failures and not interrupted:
        raise failures[0]
    return RunResult(summary, sessions, len(threads), time.perf_counter() - start, interrupted)
