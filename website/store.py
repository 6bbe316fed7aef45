"""The website's durable event store: impressions, clicks and the feedback outbox.

SQLAlchemy Core over SQLite by default (a file under ``paths.sub("website")``) or PostgreSQL
through a database URL; the schema is the same on both and is created by numbered migrations
(:data:`MIGRATIONS`, applied in order, each recorded in ``schema_version``).

Tables
------
``impressions``
    One row per rendered "Recommended for you" row: ``id`` (random hex, also signed into the
    click token), ``puid``, ``user_id``, ``arm`` (NULL for fallback rows, which count in no arm),
    ``model_name``, ``model_version``, ``strategy``, ``items`` (JSON list of movieIds), the Seldon
    ``request`` and ``response`` JSON, ``created_at``, ``status`` (``open`` -> ``clicked`` or
    ``unclicked``; ``fallback`` rows never get feedback), ``closed_at``, ``clicked_at``,
    ``clicked_item``, ``visit`` (the user's sitting it was shown in; migration 4), and for an interleaved
    row ``teams`` (the arm that drafted each item, aligned with ``items``; migration 3).
``clicks``
    Every accepted click on an item of an impression (raw event). ``counted`` is true for the one
    click that turned its impression ``clicked``; a second item of the same row is recorded but not
    counted; the same item twice is one row.
``experiments``
    One row per experiment identity (see ``website/experiments.py``): ``id``, ``name``, ``salt``,
    ``arms`` (JSON list of ``{name, model, version, run_id}``), ``started_at``, ``ended_at`` (NULL
    while it is the open one). Each impression's ``experiment_id`` names the experiment it was
    served in (NULL for rows written before migration 5).
``feedback``
    The outbox: exactly one row per non-fallback impression (unique ``impression_id``) holding the
    Seldon feedback payload and its delivery ``state`` (``pending`` -> ``sending`` -> ``sent``, or
    ``dead`` when Seldon refused it for good: ``last_error`` says why, ``dead_at`` when). Rows are
    written in the same transaction as the event that decides the reward, so a crash can leave
    neither a counted click without its feedback nor a feedback without its click.

Transactions on SQLite start with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so a
read-then-write transaction never fails on lock upgrade); the database runs in WAL mode with
``synchronous=NORMAL`` (durable across process crashes; the last commits can be lost on power loss).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

log = logging.getLogger(__name__)

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

impressions = sa.Table(
    "impressions", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("puid", sa.String(64)),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("arm", sa.String(64)),
    sa.Column("model_name", sa.String(64)),
    sa.Column("model_version", sa.String(128)),
    sa.Column("strategy", sa.String(32)),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("request", sa.JSON),
    sa.Column("response", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("clicked_at", sa.DateTime(timezone=True)),
    sa.Column("clicked_item", sa.BigInteger),
    sa.Column("teams", sa.JSON),  # added by migration 3
    sa.Column("visit", sa.String(32)),  # migration 4: the user's sitting (sign-in to sign-out) it was shown in
    sa.Column("experiment_id", sa.String(80)),  # migration 5: the experiment it was served in
    sa.Index("ix_impressions_user_status", "user_id", "status"),
    sa.Index("ix_impressions_status_created", "status", "created_at"),
    sa.Index("ix_impressions_arm_created", "arm", "created_at"),
)

experiments = sa.Table(
    "experiments", metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("salt", sa.String(256), nullable=False),
    sa.Column("arms", sa.JSON, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Index("ix_experiments_name_started", "name", "started_at"),
)

clicks = sa.Table(
    "clicks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("impression_id", sa.String(32), sa.ForeignKey("impressions.id"), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("movie_id", sa.BigInteger, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("counted", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("impression_id", "movie_id", name="uq_clicks_impression_movie"),
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("impression_id", sa.String(32), sa.ForeignKey("impressions.id"), nullable=False, unique=True),
    sa.Column("arm", sa.String(64), nullable=False),
    sa.Column("reward", sa.Integer, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("dead_at", sa.DateTime(timezone=True)),  # migration 2
    sa.Index("ix_feedback_state_next", "state", "next_attempt_at"),
)


def _v1_initial_schema(conn: sa.Connection) -> None:
    for table in (impressions, clicks, feedback):
        table.create(conn, checkfirst=True)


def _v2_dead_letters(conn: sa.Connection) -> None:
    """Feedback Seldon refused for good is kept as ``dead`` with its time (and ``last_error``).

    A store created at version 1 gets the column; a new one has it from the table definition."""
    if "dead_at" not in {column["name"] for column in sa.inspect(conn).get_columns("feedback")}:
        column_type = feedback.c.dead_at.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE feedback ADD COLUMN dead_at {column_type}")


def _v3_impression_teams(conn: sa.Connection) -> None:
    """Interleaving: the team (arm) that drafted each shown item, aligned with ``items`` (NULL for A/B rows)."""
    if "teams" not in {c["name"] for c in sa.inspect(conn).get_columns("impressions")}:
        conn.execute(sa.text("ALTER TABLE impressions ADD COLUMN teams JSON"))


#: Covering indexes of the analysis (migration 4): per-user sums, and the replay in time order.
ANALYSIS_INDEXES = (
    sa.Index("ix_impressions_analysis_user", impressions.c.arm, impressions.c.user_id, impressions.c.status,
             impressions.c.visit),
    sa.Index("ix_impressions_analysis_time", impressions.c.created_at, impressions.c.id, impressions.c.arm,
             impressions.c.user_id, impressions.c.status),
)


def _v4_visits_and_analysis_indexes(conn: sa.Connection) -> None:
    """Impressions remember their visit (older rows: each its own visit); the analysis aggregates in SQL."""
    if "visit" not in {c["name"] for c in sa.inspect(conn).get_columns("impressions")}:
        conn.exec_driver_sql("ALTER TABLE impressions ADD COLUMN visit VARCHAR(32)")
    conn.execute(impressions.update().where(impressions.c.visit.is_(None)).values(visit=impressions.c.id))
    for index in ANALYSIS_INDEXES:
        index.create(conn, checkfirst=True)


#: The analysis's covering indexes within one experiment (migration 5): :data:`ANALYSIS_INDEXES`
#: led by ``experiment_id`` (its per-user sums and its replay in time order).
EXPERIMENT_INDEXES = (
    sa.Index("ix_impressions_experiment_arm", impressions.c.experiment_id, impressions.c.arm, impressions.c.user_id,
             impressions.c.status, impressions.c.visit),
    sa.Index("ix_impressions_experiment_time", impressions.c.experiment_id, impressions.c.created_at,
             impressions.c.id, impressions.c.arm, impressions.c.user_id, impressions.c.status),
)


def _v5_experiment_identity(conn: sa.Connection) -> None:
    """The ``experiments`` table and ``impressions.experiment_id`` (idempotent: version 1 creates
    ``impressions`` from the current definition on a fresh store)."""
    experiments.create(conn, checkfirst=True)
    if "experiment_id" not in {c["name"] for c in sa.inspect(conn).get_columns("impressions")}:
        conn.execute(sa.text("ALTER TABLE impressions ADD COLUMN experiment_id VARCHAR(80)"))
    for index in EXPERIMENT_INDEXES:
        index.create(conn, checkfirst=True)


#: Ordered migrations ``(version, function(connection))``; append, never edit a released one.
MIGRATIONS: list[tuple[int, Callable[[sa.Connection], None]]] = [(1, _v1_initial_schema), (2, _v2_dead_letters),
                                                                 (3, _v3_impression_teams),
                                                                 (4, _v4_visits_and_analysis_indexes),
                                                                 (5, _v5_experiment_identity)]

OPEN, CLICKED, UNCLICKED, FALLBACK = "open", "clicked", "unclicked", "fallback"
PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def default_url() -> str:
    from funflix import paths

    return f"sqlite:///{paths.sub('website') / 'events.sqlite3'}"


def create_store_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with the SQLite pragmas and ``BEGIN IMMEDIATE`` wired in."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def migrate(engine: sa.Engine) -> int:
    """Apply pending migrations; returns the schema version. Safe to call from many processes."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        schema_version.create(conn, checkfirst=True)
        done = set(conn.execute(sa.select(schema_version.c.version)).scalars())
        for version, step in MIGRATIONS:
            if version in done:
                continue
            log.info("event store: applying migration %d (%s)", version, step.__name__)
            step(conn)
            conn.execute(schema_version.insert().values(version=version, applied_at=utcnow()))
        return max([v for v, _ in MIGRATIONS] + list(done))


@contextmanager
def transaction(conn: sa.Connection):
    """One transaction on ``conn`` (commits on success, rolls back on error)."""
    if conn.in_transaction():
        conn.rollback()
    with conn.begin():
        yield conn


@dataclass(frozen=True)
class Impression:
    """A stored impression as the click and feedback code needs it."""

    id: str
    user_id: int
    arm: str | None
    items: list[int]
    request: dict | None
    response: dict | None
    status: str
    created_at: datetime


def _feedback_row(impression_id: str, arm: str, reward: int, request: dict, response: dict, now: datetime,
                  clicked_item: int | None = None) -> dict:
    payload = {"request": request, "response": response, "reward": reward}
    if clicked_item is not None:  # Seldon's truth: what was clicked (interleaving credits the item's team)
        payload["truth"] = {"jsonData": {"clicked": [int(clicked_item)]}}
    return {
        "impression_id": impression_id, "arm": arm, "reward": reward,
        "payload": payload,
        "state": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
    }


def close_open_impressions(conn: sa.Connection, where, now: datetime) -> list[str]:
    """Close the open impressions matching ``where`` as unclicked and queue their reward-0 feedback.

    Runs inside the caller's transaction. Returns the arms of the impressions closed here; an
    impression closed concurrently elsewhere is skipped (the status check is part of the UPDATE).
    """
    rows = conn.execute(
        sa.select(impressions.c.id, impressions.c.arm, impressions.c.request, impressions.c.response)
        .where(impressions.c.status == OPEN, where)
    ).all()
    closed = []
    for row in rows:
        updated = conn.execute(
            impressions.update()
            .where(impressions.c.id == row.id, impressions.c.status == OPEN)
            .values(status=UNCLICKED, closed_at=now)
        ).rowcount
        if updated:
            conn.execute(feedback.insert().values(_feedback_row(row.id, row.arm, 0, row.request, row.response, now)))
            closed.append(row.arm)
    return closed


def record_impression(conn: sa.Connection, *, impression_id: str, user_id: int, items: list[int],
                      arm: str | None, model_name: str | None = None, model_version: str | None = None,
                      strategy: str | None = None, puid: str | None = None, request: dict | None = None,
                      response: dict | None = None, teams: list[str] | None = None, visit: str | None = None,
                      experiment_id: str | None = None, now: datetime | None = None) -> list[str]:
    """Store one rendered row of experiment ``experiment_id``; the user's earlier open rows are
    closed as unclicked (reward 0).

    A row with ``arm=None`` is a fallback: stored for the record, never fed back, counted in no arm.
    ``teams`` (interleaving) names the arm that drafted each of ``items``.
    ``visit`` names the user's sitting the row belongs to (default: a visit of its own).
    Returns the arms of the superseded impressions (for metrics).
    """
    if teams is not None and len(teams) != len(items):
        raise ValueError(f"teams must name one team per item ({len(items)}), got {len(teams)}")
    now = now or utcnow()
    with transaction(conn):
        closed = close_open_impressions(conn, impressions.c.user_id == user_id, now)
        conn.execute(impressions.insert().values(
            id=impression_id, puid=puid, user_id=user_id, arm=arm, model_name=model_name,
            model_version=model_version, strategy=strategy, items=[int(i) for i in items],
            request=request, response=response, teams=list(teams) if teams is not None else None, created_at=now,
            visit=visit or impression_id, experiment_id=experiment_id,
            status=OPEN if arm is not None else FALLBACK,
        ))
    return closed


def get_impression(conn: sa.Connection, impression_id: str) -> Impression | None:
    with transaction(conn):
        row = conn.execute(sa.select(impressions).where(impressions.c.id == impression_id)).first()
    if row is None:
        return None
    return Impression(id=row.id, user_id=row.user_id, arm=row.arm, items=list(row.items), request=row.request,
                      response=row.response, status=row.status, created_at=as_utc(row.created_at))


def _insert_ignoring_duplicates(conn: sa.Connection, table: sa.Table):
    """``INSERT ... ON CONFLICT DO NOTHING`` (a concurrent duplicate is skipped, not an error)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


@dataclass(frozen=True)
class ClickOutcome:
    """What :func:`record_click` did: ``recorded`` (a new raw click row), ``counted`` (this click
    turned the impression clicked and queued its reward-1 feedback), the impression's ``arm``."""

    recorded: bool
    counted: bool
    arm: str | None
    status: str


def record_click(conn: sa.Connection, impression_id: str, user_id: int, movie_id: int,
                 now: datetime | None = None) -> ClickOutcome:
    """Record a click on ``movie_id`` in an impression; count the impression at most once.

    The caller has checked the token (impression id and user). Raises ``LookupError`` when the
    impression does not exist and ``ValueError`` when ``movie_id`` is not one of its items.
    """
    now = now or utcnow()
    with transaction(conn):
        row = conn.execute(sa.select(impressions).where(impressions.c.id == impression_id)).first()
        if row is None or row.user_id != user_id:
            raise LookupError(f"no impression {impression_id} for user {user_id}")
        items = [int(i) for i in row.items]
        if movie_id not in items:
            raise ValueError(f"movie {movie_id} is not in impression {impression_id}")
        counted = False
        if row.status == OPEN:
            counted = bool(conn.execute(
                impressions.update()
                .where(impressions.c.id == impression_id, impressions.c.status == OPEN)
                .values(status=CLICKED, closed_at=now, clicked_at=now, clicked_item=movie_id)
            ).rowcount)
            if counted:
                conn.execute(feedback.insert().values(
                    _feedback_row(impression_id, row.arm, 1, row.request, row.response, now, movie_id)))
        recorded = bool(conn.execute(_insert_ignoring_duplicates(conn, clicks).values(
            impression_id=impression_id, user_id=user_id, movie_id=movie_id,
            position=items.index(movie_id), counted=counted, created_at=now)).rowcount)
        status = CLICKED if counted else row.status
    return ClickOutcome(recorded=recorded, counted=counted, arm=row.arm, status=status)


def close_user_impressions(conn: sa.Connection, user_id: int, now: datetime | None = None) -> list[str]:
    """Close a user's open impressions as unclicked (sign-out)."""
    now = now or utcnow()
    with transaction(conn):
        return close_open_impressions(conn, impressions.c.user_id == user_id, now)


def close_stale_impressions(conn: sa.Connection, older_than: timedelta, now: datetime | None = None) -> list[str]:
    """Close every open impression older than ``older_than`` as unclicked (periodic flush)."""
    now = now or utcnow()
    with transaction(conn):
        return close_open_impressions(conn, impressions.c.created_at < now - older_than, now)


@dataclass(frozen=True)
class FeedbackJob:
    """A claimed outbox row; ``attempts`` also identifies the claim (a later claim of the row raises it)."""

    id: int
    impression_id: str
    arm: str
    reward: int
    payload: dict
    attempts: int


def claim_feedback(conn: sa.Connection, limit: int = 1, lease: timedelta = timedelta(seconds=30),
                   now: datetime | None = None) -> list[FeedbackJob]:
    """Claim up to ``limit`` due outbox rows for delivery (``pending`` -> ``sending``).

    A claim is a lease: a row whose sender died is due again once ``claimed_until`` passes, so the
    lease must outlast posting every claimed row (the sender claims one row per post).
    Claims are conditional UPDATEs, so two workers never both claim the same row.
    """
    now = now or utcnow()
    due = sa.or_(
        sa.and_(feedback.c.state == PENDING, feedback.c.next_attempt_at <= now),
        sa.and_(feedback.c.state == SENDING, feedback.c.claimed_until < now),
    )
    jobs = []
    with transaction(conn):
        rows = conn.execute(sa.select(feedback).where(due).order_by(feedback.c.id).limit(limit)).all()
        for row in rows:
            claimed = conn.execute(
                feedback.update().where(feedback.c.id == row.id, due)
                .values(state=SENDING, claimed_until=now + lease, attempts=feedback.c.attempts + 1)
            ).rowcount
            if claimed:
                jobs.append(FeedbackJob(row.id, row.impression_id, row.arm, row.reward, row.payload, row.attempts + 1))
    return jobs


def _own_claim(job: FeedbackJob):
    """The row while ``job``'s claim holds it (not after its lease ran out and another sender claimed it)."""
    return sa.and_(feedback.c.id == job.id, feedback.c.state == SENDING, feedback.c.attempts == job.attempts)


def mark_feedback_sent(conn: sa.Connection, job: FeedbackJob, now: datetime | None = None) -> bool:
    """``sending`` -> ``sent``; False when the claim was lost."""
    with transaction(conn):
        return bool(conn.execute(feedback.update().where(_own_claim(job))
                                 .values(state=SENT, sent_at=now or utcnow(), claimed_until=None,
                                         last_error=None)).rowcount)


def mark_feedback_failed(conn: sa.Connection, job: FeedbackJob, error: str, retry_in: timedelta,
                         now: datetime | None = None) -> bool:
    """Put a claimed row back to ``pending``, due again after ``retry_in``; False when the claim was lost."""
    now = now or utcnow()
    with transaction(conn):
        return bool(conn.execute(feedback.update().where(_own_claim(job))
                                 .values(state=PENDING, next_attempt_at=now + retry_in, claimed_until=None,
                                         last_error=error[:2000])).rowcount)


def mark_feedback_dead(conn: sa.Connection, job: FeedbackJob, reason: str, now: datetime | None = None) -> bool:
    """A claimed row Seldon refused for good: ``dead`` with the ``reason``, never posted again."""
    with transaction(conn):
        return bool(conn.execute(feedback.update().where(_own_claim(job))
                                 .values(state=DEAD, dead_at=now or utcnow(), claimed_until=None,
                                         last_error=reason[:2000])).rowcount)


def dead_letters(conn: sa.Connection, limit: int = 5) -> list[tuple[str, str, datetime]]:
    """The latest dead-lettered rows: ``(impression_id, reason, dead_at)``, newest first."""
    with transaction(conn):
        rows = conn.execute(sa.select(feedback.c.impression_id, feedback.c.last_error, feedback.c.dead_at)
                            .where(feedback.c.state == DEAD)
                            .order_by(feedback.c.dead_at.desc(), feedback.c.id.desc()).limit(limit)).all()
    return [(row.impression_id, row.last_error or "", as_utc(row.dead_at)) for row in rows]


def arm_counts(conn: sa.Connection) -> dict[str, tuple[int, int]]:
    """``{arm: (impressions, clicked impressions)}`` over non-fallback rows."""
    clicked = sa.func.sum(sa.case((impressions.c.status == CLICKED, 1), else_=0))
    with transaction(conn):
        rows = conn.execute(
            sa.select(impressions.c.arm, sa.func.count(), clicked)
            .where(impressions.c.arm.is_not(None)).group_by(impressions.c.arm)
        ).all()
    return {arm: (int(n), int(c or 0)) for arm, n, c in rows}


def feedback_counts(conn: sa.Connection) -> dict[tuple[str, int, str], int]:
    """``{(arm, reward, state): rows}`` of the outbox."""
    with transaction(conn):
        rows = conn.execute(
            sa.select(feedback.c.arm, feedback.c.reward, feedback.c.state, sa.func.count())
            .group_by(feedback.c.arm, feedback.c.reward, feedback.c.state)
        ).all()
    return {(arm, int(reward), state): int(n) for arm, reward, state, n in rows}


IMPRESSION_COLUMNS = ["impression_id", "user_id", "arm", "model_name", "model_version", "strategy",
                      "created_at", "clicked", "clicked_at", "clicked_item", "status", "feedback_state", "visit"]


def in_an_arm() -> sa.ColumnElement:
    """Impressions some arm served: every row but the fallback ones (which count in no arm)."""
    return impressions.c.arm.is_not(None)


def _dead_lettered_ids() -> sa.Select:
    return sa.select(feedback.c.impression_id).where(feedback.c.state == DEAD)


def analysed() -> sa.ColumnElement:
    """The impressions the experiment's analysis counts: the one WHERE clause every analysis query uses.

    Fallback rows (no arm) count in no arm. Dead-lettered rows (Seldon refused their feedback for
    good, so no arm counted them) are left out; :func:`dead_lettered_count` counts them. Rows
    excluded from the analysis are excluded here and nowhere else.
    """
    return sa.and_(in_an_arm(), impressions.c.id.not_in(_dead_lettered_ids()))


def dead_lettered_count(conn: sa.Connection) -> int:
    """Impressions of an arm whose feedback was dead-lettered: left out of the analysis."""
    with transaction(conn):
        return int(conn.execute(sa.select(sa.func.count()).select_from(impressions)
                                .where(in_an_arm(), impressions.c.id.in_(_dead_lettered_ids()))).scalar() or 0)


def experiment_filter(experiment_id: str) -> sa.ColumnElement[bool]:
    """The WHERE clause that keeps one experiment's impressions (see :func:`analysed_in`)."""
    return impressions.c.experiment_id == experiment_id


def analysed_in(experiment_id: str | None = None) -> sa.ColumnElement:
    """The :func:`analysed` impressions of experiment ``experiment_id`` (None: of every experiment, as
    in a store with no experiment recorded): what every analysis query below reads."""
    if experiment_id is None:
        return analysed()
    return sa.and_(analysed(), experiment_filter(experiment_id))


def analysed_arms(conn: sa.Connection, experiment_id: str | None = None) -> list[str]:
    """The arms that have analysed impressions (in experiment ``experiment_id``; None: in any)."""
    with transaction(conn):
        return sorted(conn.execute(sa.select(impressions.c.arm).where(analysed_in(experiment_id)).distinct())
                      .scalars())


ARM_SUM_FIELDS = ("users", "clicks", "clicks_squared", "impressions", "impressions_squared", "clicks_impressions",
                  "clicked_visits", "clicked_visits_squared", "visits", "visits_squared", "clicked_visits_visits",
                  "open")


def _clicked():
    return sa.case((impressions.c.status == CLICKED, 1), else_=0)


def _until(cuts: dict[str, datetime] | None):
    """Each arm's rows up to its cut time (arms without a cut: all rows)."""
    if not cuts:
        return sa.true()
    return sa.or_(impressions.c.arm.not_in(list(cuts)),
                  *[sa.and_(impressions.c.arm == arm, impressions.c.created_at <= cut) for arm, cut in cuts.items()])


def user_sums(cuts: dict[str, datetime] | None = None, experiment_id: str | None = None) -> sa.Subquery:
    """Per (arm, user): impressions ``y``, clicked impressions ``x``, visits ``v``, clicked visits ``w``."""
    clicked_visit = sa.case((impressions.c.status == CLICKED, impressions.c.visit))
    return (sa.select(impressions.c.arm, impressions.c.user_id, sa.func.count().label("y"),
                      sa.func.sum(_clicked()).label("x"), sa.func.count(sa.distinct(impressions.c.visit)).label("v"),
                      sa.func.count(sa.distinct(clicked_visit)).label("w"),
                      sa.func.sum(sa.case((impressions.c.status == OPEN, 1), else_=0)).label("still_open"))
            .where(analysed_in(experiment_id), _until(cuts))
            .group_by(impressions.c.arm, impressions.c.user_id).subquery())


def arm_sums(conn: sa.Connection, cuts: dict[str, datetime] | None = None,
             experiment_id: str | None = None) -> dict[str, dict[str, int]]:
    """Per arm, the user-level sums of :data:`ARM_SUM_FIELDS`, aggregated in the database (GROUP BY
    user, then arm): the analysis's sufficient statistics, whatever the number of impressions."""
    u = user_sums(cuts, experiment_id)
    f = sa.func
    query = sa.select(u.c.arm, f.count(), f.sum(u.c.x), f.sum(u.c.x * u.c.x), f.sum(u.c.y), f.sum(u.c.y * u.c.y),
                      f.sum(u.c.x * u.c.y), f.sum(u.c.w), f.sum(u.c.w * u.c.w), f.sum(u.c.v), f.sum(u.c.v * u.c.v),
                      f.sum(u.c.w * u.c.v), f.sum(u.c.still_open)).group_by(u.c.arm)
    with transaction(conn):
        rows = conn.execute(query).all()
    return {row[0]: dict(zip(ARM_SUM_FIELDS, (int(v or 0) for v in row[1:]))) for row in rows}


def user_rows(conn: sa.Connection, cuts: dict[str, datetime] | None = None,
              experiment_id: str | None = None) -> "pandas.DataFrame":  # noqa: F821
    """Per (arm, user): clicks ``x`` and impressions ``y`` (the per-user frame CUPED adjusts)."""
    import pandas as pd

    u = user_sums(cuts, experiment_id)
    with transaction(conn):
        rows = conn.execute(sa.select(u.c.arm, u.c.user_id, u.c.x, u.c.y)).all()
    return pd.DataFrame(rows, columns=["arm", "user_id", "x", "y"]).astype({"x": float, "y": float})


def horizon_cuts(conn: sa.Connection, arms: list[str], planned: int, unit: str,
                 experiment_id: str | None = None) -> dict[str, datetime]:
    """Each arm's time of its ``planned``-th randomisation unit (``user``: by first impression;
    ``impression``), for the arms that have that many."""
    cuts = {}
    with transaction(conn):
        for arm in arms:
            if unit == "user":
                first = sa.func.min(impressions.c.created_at).label("first")
                firsts = (sa.select(first).where(analysed_in(experiment_id), impressions.c.arm == arm)
                          .group_by(impressions.c.user_id).subquery())
                query = sa.select(firsts.c.first).order_by(firsts.c.first)
            else:
                query = (sa.select(impressions.c.created_at).where(analysed_in(experiment_id), impressions.c.arm == arm)
                         .order_by(impressions.c.created_at))
            cut = conn.execute(query.offset(planned - 1).limit(1)).scalar()
            if cut is not None:
                cuts[arm] = as_utc(cut)
    return cuts


def settled_until(conn: sa.Connection, now: datetime, margin: timedelta = timedelta(minutes=5),
                  experiment_id: str | None = None) -> datetime:
    """A time before which every analysed impression is final: closed, and its feedback delivered (no
    row before it can still change or appear). ``margin`` covers transactions in flight and clock skew."""
    undelivered = sa.select(feedback.c.impression_id).where(feedback.c.state.in_([PENDING, SENDING]))
    rows = analysed_in(experiment_id)
    pending = sa.select(sa.func.min(impressions.c.created_at)).where(rows, impressions.c.id.in_(undelivered))
    still_open = sa.select(sa.func.min(impressions.c.created_at)).where(rows, impressions.c.status == OPEN)
    with transaction(conn):
        times = [as_utc(conn.execute(q).scalar()) for q in (pending, still_open)]
    return min([now - margin] + [t for t in times if t is not None])


def _epoch_seconds(conn: sa.Connection, column):
    if conn.dialect.name == "postgresql":
        return sa.extract("epoch", column)
    return (sa.func.julianday(column) - 2440587.5) * 86400.0


def stream_impressions(conn: sa.Connection, arms: list[str], start: datetime | None, end: datetime | None,
                       chunk_rows: int = 200_000, experiment_id: str | None = None):
    """Analysed impressions with ``start <= created_at < end`` in time order, as numpy chunks
    ``(arm codes (index in arms), user ids, clicked 0/1, epoch seconds)``: bounded memory."""
    import itertools

    import numpy as np

    code = sa.case(*[(impressions.c.arm == arm, i) for i, arm in enumerate(arms)], else_=-1)
    query = sa.select(code, impressions.c.user_id, _clicked(), _epoch_seconds(conn, impressions.c.created_at)).where(
        analysed_in(experiment_id))
    if start is not None:
        query = query.where(impressions.c.created_at >= start)
    if end is not None:
        query = query.where(impressions.c.created_at < end)
    query = query.order_by(impressions.c.created_at, impressions.c.id)
    with transaction(conn):
        result = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(query)
        for rows in result.partitions(chunk_rows):  # rows are read into numpy without per-row Python code
            block = np.fromiter(itertools.chain.from_iterable(rows), float, count=4 * len(rows)).reshape(-1, 4)
            yield block[:, 0].astype(np.int64), block[:, 1].astype(np.int64), block[:, 2].astype(np.int64), block[:, 3]


def read_impressions(conn: sa.Connection, experiment_id: str | None = None) -> "pandas.DataFrame":  # noqa: F821
    """The non-fallback impressions of experiment ``experiment_id`` (None: all), oldest first
    (see :func:`load_impressions`)."""
    import pandas as pd

    query = (
        sa.select(impressions.c.id.label("impression_id"), impressions.c.user_id, impressions.c.arm,
                  impressions.c.model_name, impressions.c.model_version, impressions.c.strategy,
                  impressions.c.created_at, impressions.c.clicked_at, impressions.c.clicked_item,
                  impressions.c.status, feedback.c.state.label("feedback_state"), impressions.c.visit)
        .select_from(impressions.outerjoin(feedback, feedback.c.impression_id == impressions.c.id))
        # dead-lettered rows too (feedback_state "dead"): the analysis counts and drops them
        .where(in_an_arm(), *([] if experiment_id is None else [experiment_filter(experiment_id)]))
        .order_by(impressions.c.created_at, impressions.c.id)
    )
    with transaction(conn):
        rows = conn.execute(query).all()
    frame = pd.DataFrame([r._asdict() for r in rows], columns=[c for c in IMPRESSION_COLUMNS if c != "clicked"])
    frame["visit"] = frame["visit"].fillna(frame["impression_id"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["clicked_at"] = pd.to_datetime(frame["clicked_at"], utc=True)
    frame["clicked"] = (frame["status"] == CLICKED).astype("int64")
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["clicked_item"] = frame["clicked_item"].astype("Int64")
    frame["feedback_state"] = frame["feedback_state"].fillna("none")
    return frame[IMPRESSION_COLUMNS]


INTERLEAVED_COLUMNS = ["impression_id", "user_id", "created_at", "items", "teams", "clicked_item", "status"]


def read_interleaved(conn: sa.Connection, experiment_id: str | None = None) -> "pandas.DataFrame":  # noqa: F821
    """The interleaved impressions (rows with ``teams``) of experiment ``experiment_id`` (None: of every
    experiment), oldest first: who saw which teams' items, what was clicked."""
    import pandas as pd

    where = [impressions.c.teams.is_not(None), impressions.c.arm.is_not(None)]
    if experiment_id is not None:
        where.append(experiment_filter(experiment_id))
    query = (sa.select(impressions.c.id.label("impression_id"), impressions.c.user_id, impressions.c.created_at,
                       impressions.c["items"], impressions.c.teams, impressions.c.clicked_item, impressions.c.status)
             .where(*where)
             .order_by(impressions.c.created_at, impressions.c.id))
    with transaction(conn):
        rows = conn.execute(query).all()
    frame = pd.DataFrame([r._asdict() for r in rows], columns=INTERLEAVED_COLUMNS)
    frame = frame[frame["teams"].map(lambda t: isinstance(t, list)).astype(bool)]  # JSON null reads back as None
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["clicked_item"] = frame["clicked_item"].astype("Int64")
    return frame.reset_index(drop=True)


def open_existing(db_url: str | None = None) -> sa.Engine:
    """An engine on the existing event store at ``db_url`` (default: the local SQLite), migrated."""
    url = sa.engine.make_url(db_url or default_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            raise FileNotFoundError(f"{url.database}: no event store here (the website creates it on start)")
    engine = create_store_engine(url.render_as_string(hide_password=False))
    migrate(engine)
    return engine


def load_impressions(db_url: str | None = None, experiment: str | None = None) -> "pandas.DataFrame":  # noqa: F821
    """One experiment's impressions from the event store at ``db_url`` (default: the local SQLite).

    ``experiment`` is an experiment's name (its latest identity) or id; None means the current
    one (see ``website/experiments.py``); a store with no experiment recorded gives every row.
    The experiment read is in ``frame.attrs["experiment"]`` (a dict, or None).

    Returns
    -------
    pandas.DataFrame
        One row per non-fallback impression, oldest first, with columns ``impression_id`` (str),
        ``user_id`` (int64), ``arm`` (str), ``model_name``, ``model_version``, ``strategy``,
        ``created_at`` (UTC datetime), ``clicked`` (0/1), ``clicked_at`` (UTC datetime or NaT),
        ``clicked_item`` (Int64), ``status`` (open/clicked/unclicked) and ``feedback_state``
        (none/pending/sending/sent/dead), ``visit``. Open impressions count as not clicked (yet); the
        analysis leaves out dead-lettered ones (Seldon refused their feedback, so no arm counted them).
    """
    from .experiments import find_experiment

    engine = open_existing(db_url)
    try:
        with engine.execution_options(readonly=True).connect() as conn:
            record = find_experiment(conn, experiment)
            frame = read_impressions(conn, record.id if record else None)
    finally:
        engine.dispose()
    frame.attrs["experiment"] = record.to_dict() if record else None
    return frame

