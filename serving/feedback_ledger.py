"""Once-only record of credited feedback, keyed by the served response's ``puid``, and the source of
truth of the arms' impression and click counters.

One ledger is shared by every gunicorn worker of a model component and survives its restarts: a
SQLite file by default, or a PostgreSQL database (``postgresql+psycopg2://...``, the event store's
server on a cluster) shared by every replica of every arm, so a retried feedback that lands on
another pod still counts once. Each credit and its tally are written in one transaction; the
counters a component exports are read back from the tallies, so they equal the credited feedback
whatever the number of threads, workers or replicas. Tallies are kept per ``(arm, replica)`` (who
credited what), and every replica exports its arm's totals over all of them: the replicas sharing a
ledger report the same values, so ``max by (arm)`` counts each list once, and a pod deleted or crashed
between two scrapes loses nothing (the others' next scrape includes its last credits).

Interleaved lists (both arms' items in one list, each item drafted by one team) are credited per
``(puid, arm)`` by :meth:`FeedbackLedger.credit_team`: Seldon sends a combiner's feedback to every
child, so each arm credits its own team once per list, with its clicks and the list's outcome for it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from funflix.serving.team_draft import OUTCOMES  # an interleaved list's outcome for a team

CREDITED, DUPLICATE, OTHER_ARM = "credited", "duplicate", "other_arm"
IMPRESSIONS, CLICKS = "impressions", "clicks"
TEAM_IMPRESSIONS, TEAM_CLICKS = "team_impressions", "team_clicks"
TALLIES = (IMPRESSIONS, CLICKS, DUPLICATE, OTHER_ARM, TEAM_IMPRESSIONS, TEAM_CLICKS, *OUTCOMES)

metadata = sa.MetaData()

credited = sa.Table(
    "ledger_credited", metadata,
    sa.Column("puid", sa.String(128), primary_key=True),
    sa.Column("arm", sa.String(64), nullable=False),
    sa.Column("replica", sa.String(253), nullable=False),
    sa.Column("reward", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
)

team_credited = sa.Table(
    "ledger_team_credited", metadata,
    sa.Column("puid", sa.String(128), primary_key=True),
    sa.Column("arm", sa.String(64), primary_key=True),
    sa.Column("replica", sa.String(253), nullable=False),
    sa.Column("clicks", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
)

tallies = sa.Table(
    "ledger_tallies", metadata,
    sa.Column("arm", sa.String(64), primary_key=True),
    sa.Column("replica", sa.String(253), primary_key=True),
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)


def ledger_engine(location: str | Path) -> sa.Engine:
    """An engine for a SQLAlchemy URL or a SQLite file path (writers serialised by ``BEGIN IMMEDIATE``)."""
    location = str(location)
    if "://" in location:
        if not location.startswith(("sqlite", "postgresql")):
            raise ValueError(f"ledger must be a SQLite file or a postgresql:// URL, got {location!r}")
        url = location
    else:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{location}"
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # BEGIN is issued below
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _dialect_insert(dialect: str):
    """The dialect's ``insert`` (it has ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class FeedbackLedger:
    """Credits of one arm's ``replica``: :meth:`credit` is ``"credited"`` exactly once per ``puid``.

    Parameters
    ----------
    location : SQLite file path, or a SQLAlchemy URL (``sqlite:///...``, ``postgresql+psycopg2://...``).
    arm : the arm whose feedback this replica credits.
    replica : this replica's name (the pod name on a cluster); tallies are kept per replica.
    """

    def __init__(self, location: str | Path, arm: str, replica: str):
        self.arm = arm
        self.replica = replica
        self.engine = ledger_engine(location)
        self._insert = _dialect_insert(self.engine.dialect.name)
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":  # replicas start together: one creates the tables
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727275)")
            metadata.create_all(conn)

    def credit(self, puid: str, reward: int) -> str:
        """Record the feedback of list ``puid``: ``"credited"`` the first time, ``"duplicate"`` after."""
        with self.engine.begin() as conn:
            new = conn.execute(self._insert(credited).values(
                puid=puid, arm=self.arm, replica=self.replica, reward=int(reward)).on_conflict_do_nothing()).rowcount
            if new:
                self._tally(conn, IMPRESSIONS, CLICKS if reward else None)
                return CREDITED
            self._tally(conn, DUPLICATE)
            return DUPLICATE

    def credit_team(self, puid: str, clicks: int, outcome: str) -> str:
        """Record this arm's team in interleaved list ``puid``: its ``clicks`` and the list's ``outcome``
        for it; ``"credited"`` the first time, ``"duplicate"`` after."""
        if outcome not in OUTCOMES or clicks < 0:
            raise ValueError(f"outcome must be one of {OUTCOMES} and clicks >= 0, got {outcome!r}, {clicks!r}")
        with self.engine.begin() as conn:
            new = conn.execute(self._insert(team_credited).values(
                puid=puid, arm=self.arm, replica=self.replica, clicks=int(clicks), outcome=outcome)
                .on_conflict_do_nothing()).rowcount
            if new:
                self._tally(conn, TEAM_IMPRESSIONS, outcome)
                if clicks:
                    self._tally(conn, TEAM_CLICKS, by=int(clicks))
                return CREDITED
            self._tally(conn, DUPLICATE)
            return DUPLICATE

    def ignore_other_arm(self) -> None:
        """Count a feedback for a list another arm served (Seldon broadcasts feedback without routing)."""
        with self.engine.begin() as conn:
            self._tally(conn, OTHER_ARM)

    def _tally(self, conn: sa.Connection, *names: str | None, by: int = 1) -> None:
        for name in filter(None, names):
            insert = self._insert(tallies).values(arm=self.arm, replica=self.replica, name=name, n=by)
            conn.execute(insert.on_conflict_do_update(index_elements=["arm", "replica", "name"],
                                                      set_={"n": tallies.c.n + by}))

    def arm_counts(self) -> dict[str, int]:
        """The arm's tallies summed over every replica in this ledger, every name present (0 before the
        first feedback)."""
        query = (sa.select(tallies.c.name, sa.func.sum(tallies.c.n)).where(tallies.c.arm == self.arm)
                 .group_by(tallies.c.name))
        with self.engine.connect() as conn:
            found = dict(conn.execute(query).all())
        return {name: int(found.get(name, 0)) for name in TALLIES}
