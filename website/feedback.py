"""Delivery of the feedback outbox to Seldon, and the housekeeping that closes stale impressions.

Every impression ends with exactly one outbox row (reward 1 when clicked, 0 otherwise), written in
the same transaction as the event that decided it. Delivery claims due rows (a lease, so two
workers never post the same row), posts them, and marks them ``sent``; a failed post goes back to
``pending`` with exponential backoff and is retried until it is accepted, so nothing is dropped.
The one window for a repeat is a process dying after Seldon accepted a post and before ``sent``
was committed: the row is posted again when its lease runs out. The serving components credit a
feedback once per ``meta.puid`` (their ledger), so such a repeat is not counted twice.

When an impression gets its reward 0 (documented in ``funflix.website``): when the same user gets
a new "Recommended for you" row, when the user signs out, and when the housekeeper finds it open
for longer than ``IMPRESSION_TTL`` seconds (the click token's lifetime).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from . import store
from .gateway import SeldonCallError

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` (0.5 s doubling, capped at a minute)."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** max(0, attempts - 1)))


def deliver_due(engine, gateway, metrics, batch: int = 50) -> tuple[int, int]:
    """Post due outbox rows until none is due; returns ``(sent, failed)``."""
    sent = failed = 0
    with engine.connect() as conn:
        while True:
            jobs = store.claim_feedback(conn, limit=batch)
            if not jobs:
                return sent, failed
            for job in jobs:
                try:
                    gateway.send_feedback(job.payload)
                except SeldonCallError as exc:
                    store.mark_feedback_failed(conn, job.id, str(exc), backoff(job.attempts))
                    metrics.feedback_posts.labels(job.arm, str(job.reward), "failed").inc()
                    metrics.errors.labels(f"feedback_{exc.kind}").inc()
                    failed += 1
                    log.warning("feedback %s (impression %s) not delivered: %s", job.id, job.impression_id, exc)
                else:
                    store.mark_feedback_sent(conn, job.id)
                    metrics.feedback_posts.labels(job.arm, str(job.reward), "sent").inc()
                    sent += 1
            if failed:  # the gateway is failing: leave the rest to their backoff
                return sent, failed


def close_stale(engine, metrics, ttl_seconds: float) -> int:
    """Close impressions open longer than ``ttl_seconds`` as unclicked; returns how many."""
    with engine.connect() as conn:
        arms = store.close_stale_impressions(conn, timedelta(seconds=ttl_seconds))
    for arm in arms:
        metrics.unclicked.labels(arm).inc()
    return len(arms)


class Housekeeper(threading.Thread):
    """A daemon thread running ``work()`` every ``interval`` seconds, or at once when woken."""

    def __init__(self, work, interval: float, warm_up=None):
        super().__init__(name="funflix-housekeeper", daemon=True)
        self._work = work
        self._warm_up = warm_up
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        if self._warm_up is not None:
            try:
                self._warm_up()
            except Exception:  # requests load what they need themselves and report the error
                log.exception("warm-up failed")
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._work()
            except Exception:  # keep the thread alive; the next pass retries from the store
                log.exception("housekeeping pass failed")
