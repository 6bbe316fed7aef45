"""Once-only record of credited feedback, keyed by the served response's ``puid``.

A SQLite file shared by every gunicorn worker of a model component (and surviving its
restarts), so a retried or replayed feedback for the same list is counted once.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path


class FeedbackLedger:
    """``first_time(puid, reward)`` is True exactly once per ``puid``, whatever the process or thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS credited (puid TEXT PRIMARY KEY, reward REAL NOT NULL, "
                "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    @property
    def _connection(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections must not cross threads (or forks).
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    def first_time(self, puid: str, reward: float) -> bool:
        """Record ``puid``; True if it was not recorded before (atomic across processes)."""
        cursor = self._connection.execute(
            "INSERT OR IGNORE INTO credited (puid, reward) VALUES (?, ?)", (puid, float(reward)))
        return cursor.rowcount == 1
