"""Serialise seldon-core 1.17.1's custom-metrics update per process, so no increment is lost.

``SeldonMetrics.update`` reads the worker's metrics dict from a multiprocessing manager under its
lock, changes the copy, then writes it back under the lock again: two threads of one gunicorn worker
(the gthread worker) interleave between the read and the write, and one thread's increments vanish
(measured: 400 lists served 16 at a time, ``funflix_recommendations_total`` rose by 320). Holding one
process-wide lock around the whole update makes it a real read-modify-write; workers keep their own
entries (keyed by pid), so they never race each other. Each component's ``__init__`` applies it: it
runs in seldon-core-microservice's main process, before the REST workers are forked.
"""

from __future__ import annotations

import functools
import threading

from seldon_core.metrics import SeldonMetrics


def serialise_updates() -> None:
    """Wrap ``SeldonMetrics.update`` in a process-wide lock (idempotent)."""
    update = SeldonMetrics.update
    if getattr(update, "funflix_serialised", False):
        return
    lock = threading.Lock()

    @functools.wraps(update)
    def serialised(self, custom_metrics, method):
        with lock:
            return update(self, custom_metrics, method)

    serialised.funflix_serialised = True
    SeldonMetrics.update = serialised
