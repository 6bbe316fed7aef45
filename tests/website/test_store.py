"""The event store on real SQLite: migrations, exactly-once clicks, the outbox, load_impressions."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from funflix.website import store


@pytest.fixture
def engine(db_url):
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def conn(engine):
    with engine.connect() as connection:
        yield connection


def impression(conn, impression_id, user_id=7, arm="control", items=(10, 20, 30), **kwargs):
    return store.record_impression(conn, impression_id=impression_id, user_id=user_id, items=list(items), arm=arm,
                                   request={"jsonData": {"user_id": user_id, "k": len(items)}},
                                   response={"meta": {"puid": impression_id, "routing": {"ab-router": 0}}}, **kwargs)


def outbox(conn):
    with store.transaction(conn):
        return conn.execute(sa.select(store.feedback.c.impression_id, store.feedback.c.reward,
                                      store.feedback.c.state).order_by(store.feedback.c.id)).all()


def test_migrations_are_recorded_and_idempotent(engine):
    assert store.migrate(engine) == store.MIGRATIONS[-1][0]
    with engine.connect() as connection:
        versions = connection.execute(sa.select(store.schema_version.c.version)).scalars().all()
    assert versions == [v for v, _ in store.MIGRATIONS]


@pytest.mark.parametrize("applied", [(1,), (1, 2), (1, 4)], ids=["version-1", "dead-letters-only", "visits-only"])
def test_an_older_store_gets_each_missing_migration(engine, conn, applied):
    """Migrations 2 (dead letters) and 4 (visits, analysis indexes) apply to a store that has neither,
    or only the other one (a store of either branch before they met)."""
    impression(conn, "a" * 32)
    store.close_user_impressions(conn, 7)
    with store.transaction(conn):  # the store as those migrations left it (and before migration 5)
        for index in store.EXPERIMENT_INDEXES:  # migration 5's; they cover the visit column too
            conn.exec_driver_sql(f"DROP INDEX {index.name}")
        if 4 not in applied:
            for index in store.ANALYSIS_INDEXES:
                conn.exec_driver_sql(f"DROP INDEX {index.name}")
            conn.exec_driver_sql("ALTER TABLE impressions DROP COLUMN visit")
        if 2 not in applied:
            conn.exec_driver_sql("ALTER TABLE feedback DROP COLUMN dead_at")
        conn.execute(store.schema_version.delete().where(store.schema_version.c.version.not_in(applied)))
    assert store.migrate(engine) == store.MIGRATIONS[-1][0]
    with engine.connect() as fresh:
        versions = fresh.execute(sa.select(store.schema_version.c.version)).scalars().all()
    assert sorted(versions) == [v for v, _ in store.MIGRATIONS]
    inspector = sa.inspect(engine)
    assert "dead_at" in {c["name"] for c in inspector.get_columns("feedback")}
    assert "visit" in {c["name"] for c in inspector.get_columns("impressions")}
    assert {i.name for i in store.ANALYSIS_INDEXES} <= {i["name"] for i in inspector.get_indexes("impressions")}
    if 4 not in applied:  # an older row is its own visit
        assert store.read_impressions(conn)["visit"].tolist() == ["a" * 32]
    (job,) = store.claim_feedback(conn)
    assert store.mark_feedback_dead(conn, job, "answered 400: bad payload")
    assert [(i, state) for i, _, state in outbox(conn)] == [("a" * 32, store.DEAD)]
    assert store.dead_lettered_count(conn) == 1 and store.analysed_arms(conn) == []


def test_dead_letters_are_never_claimed_again_and_keep_their_reason(conn):
    for user in (7, 8):
        impression(conn, uuid.uuid4().hex, user_id=user)
        store.close_user_impressions(conn, user)
    now = store.utcnow()
    refused, accepted = store.claim_feedback(conn, limit=2, now=now)
    assert store.mark_feedback_dead(conn, refused, "answered 400: no reward", now=now)
    assert store.mark_feedback_sent(conn, accepted)
    assert store.claim_feedback(conn, now=now + timedelta(days=1)) == []
    assert store.dead_letters(conn) == [(refused.impression_id, "answered 400: no reward", now)]
    assert store.feedback_counts(conn) == {("control", 0, store.DEAD): 1, ("control", 0, store.SENT): 1}


def test_a_sender_whose_lease_ran_out_cannot_mark_the_row(conn):
    impression(conn, "a" * 32)
    store.close_user_impressions(conn, 7)
    now = store.utcnow()
    (slow,) = store.claim_feedback(conn, lease=timedelta(seconds=1), now=now)
    (other,) = store.claim_feedback(conn, now=now + timedelta(seconds=2))  # the lease ran out
    assert not store.mark_feedback_sent(conn, slow)
    assert not store.mark_feedback_dead(conn, slow, "late")
    assert store.mark_feedback_sent(conn, other)
    assert outbox(conn) == [("a" * 32, 0, store.SENT)]


def test_new_row_closes_the_users_open_rows_with_reward_zero(conn):
    assert impression(conn, "a" * 32) == []
    assert impression(conn, "b" * 32, user_id=8) == []
    assert impression(conn, "c" * 32) == ["control"]
    assert [(i, r) for i, r, _ in outbox(conn)] == [("a" * 32, 0)]
    assert store.get_impression(conn, "a" * 32).status == store.UNCLICKED
    assert store.get_impression(conn, "b" * 32).status == store.OPEN


def test_click_counts_once_per_impression_and_records_each_item(conn):
    impression(conn, "a" * 32)
    first = store.record_click(conn, "a" * 32, 7, 20)
    again = store.record_click(conn, "a" * 32, 7, 20)
    other = store.record_click(conn, "a" * 32, 7, 30)
    assert (first.counted, first.recorded) == (True, True)
    assert (again.counted, again.recorded) == (False, False)
    assert (other.counted, other.recorded, other.status) == (False, True, store.CLICKED)
    assert outbox(conn) == [("a" * 32, 1, store.PENDING)]
    with store.transaction(conn):
        rows = conn.execute(sa.select(store.clicks.c.movie_id, store.clicks.c.position, store.clicks.c.counted)
                            .order_by(store.clicks.c.id)).all()
    assert [tuple(r) for r in rows] == [(20, 1, True), (30, 2, False)]


def test_click_refuses_foreign_items_and_other_users(conn):
    impression(conn, "a" * 32)
    with pytest.raises(ValueError):
        store.record_click(conn, "a" * 32, 7, 99)
    with pytest.raises(LookupError):
        store.record_click(conn, "a" * 32, 8, 20)
    with pytest.raises(LookupError):
        store.record_click(conn, "f" * 32, 7, 20)
    assert outbox(conn) == []


def test_click_after_close_is_recorded_but_not_counted(conn):
    impression(conn, "a" * 32)
    store.close_user_impressions(conn, 7)
    late = store.record_click(conn, "a" * 32, 7, 10)
    assert (late.recorded, late.counted, late.status) == (True, False, store.UNCLICKED)
    assert outbox(conn) == [("a" * 32, 0, store.PENDING)]


def test_fallback_rows_get_no_feedback_and_are_not_loaded(conn, db_url):
    impression(conn, "a" * 32, arm=None)
    impression(conn, "b" * 32)
    assert store.record_click(conn, "b" * 32, 7, 10).counted
    assert not store.record_click(conn, "a" * 32, 7, 10).counted
    assert outbox(conn) == [("b" * 32, 1, store.PENDING)]
    frame = store.load_impressions(db_url)
    assert list(frame["impression_id"]) == ["b" * 32]


def test_stale_rows_close_after_the_ttl(conn):
    start = store.utcnow()
    impression(conn, "a" * 32, now=start - timedelta(seconds=100))
    impression(conn, "b" * 32, user_id=8, now=start)
    assert store.close_stale_impressions(conn, timedelta(seconds=50), now=start) == ["control"]
    assert [i for i, _, _ in outbox(conn)] == ["a" * 32]


def test_outbox_claims_are_exclusive_and_failures_wait_their_backoff(conn, engine):
    impression(conn, "a" * 32)
    store.close_user_impressions(conn, 7)
    now = store.utcnow()
    jobs = store.claim_feedback(conn, now=now)
    assert [(j.impression_id, j.reward, j.attempts) for j in jobs] == [("a" * 32, 0, 1)]
    with engine.connect() as other:
        assert store.claim_feedback(other, now=now) == []
    store.mark_feedback_failed(conn, jobs[0], "down", timedelta(seconds=10), now=now)
    assert store.claim_feedback(conn, now=now + timedelta(seconds=5)) == []
    retry = store.claim_feedback(conn, now=now + timedelta(seconds=11))
    assert [j.attempts for j in retry] == [2]
    store.mark_feedback_sent(conn, retry[0])
    assert outbox(conn) == [("a" * 32, 0, store.SENT)]
    assert store.claim_feedback(conn, now=now + timedelta(hours=1)) == []


def test_a_dead_senders_lease_expires(conn):
    impression(conn, "a" * 32)
    store.close_user_impressions(conn, 7)
    now = store.utcnow()
    assert len(store.claim_feedback(conn, lease=timedelta(seconds=30), now=now)) == 1
    assert store.claim_feedback(conn, now=now + timedelta(seconds=29)) == []
    assert len(store.claim_feedback(conn, now=now + timedelta(seconds=31))) == 1


def test_load_impressions_contract(conn, db_url):
    impression(conn, "a" * 32, user_id=1)
    impression(conn, "b" * 32, user_id=2, arm="challenger")
    store.record_click(conn, "b" * 32, 2, 30)
    frame = store.load_impressions(db_url)
    assert list(frame.columns) == store.IMPRESSION_COLUMNS
    assert frame[["impression_id", "user_id", "arm", "clicked"]].values.tolist() == [
        ["a" * 32, 1, "control", 0], ["b" * 32, 2, "challenger", 1]]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame["clicked_item"].tolist()[1] == 30
    assert frame["feedback_state"].tolist() == ["none", "pending"]


def test_a_failed_transaction_leaves_nothing(conn):
    impression(conn, "a" * 32)
    with pytest.raises(sa.exc.IntegrityError):
        impression(conn, "a" * 32)  # same id: the insert fails after the earlier row was closed
    assert store.get_impression(conn, "a" * 32).status == store.OPEN
    assert outbox(conn) == []


def test_concurrent_clicks_count_the_impression_once(engine, conn):
    impression(conn, "a" * 32, items=range(10, 90, 10))
    barrier = threading.Barrier(8)

    def click(movie_id):
        with engine.connect() as own:
            barrier.wait()
            return store.record_click(own, "a" * 32, 7, movie_id)

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(click, [10, 10, 20, 20, 30, 40, 50, 60]))
    assert sum(o.counted for o in outcomes) == 1
    assert sum(o.recorded for o in outcomes) == 6
    assert [(r, s) for _, r, s in outbox(conn)] == [(1, store.PENDING)]


def test_concurrent_senders_never_claim_the_same_row(engine, conn):
    for user in range(20):
        impression(conn, uuid.uuid4().hex, user_id=user)
        store.close_user_impressions(conn, user)
    barrier = threading.Barrier(4)

    def claim(_):
        with engine.connect() as own:
            barrier.wait()
            return [job.id for job in store.claim_feedback(own, limit=20)]

    with ThreadPoolExecutor(4) as pool:
        claimed = [job for jobs in pool.map(claim, range(4)) for job in jobs]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20


def test_load_impressions_refuses_a_missing_sqlite_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no event store"):
        store.load_impressions(f"sqlite:///{tmp_path / 'typo.sqlite3'}")


def test_a_new_migration_applies_once_to_an_existing_store(engine, conn, monkeypatch):
    impression(conn, "a" * 32)

    def add_index(connection):
        connection.exec_driver_sql("CREATE INDEX ix_test_clicks_user ON clicks (user_id)")

    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, (99, add_index)])
    assert store.migrate(engine) == 99
    assert store.migrate(engine) == 99  # not applied twice (the CREATE INDEX would fail)
    assert "ix_test_clicks_user" in {ix["name"] for ix in sa.inspect(engine).get_indexes("clicks")}
    assert store.get_impression(conn, "a" * 32).status == store.OPEN
