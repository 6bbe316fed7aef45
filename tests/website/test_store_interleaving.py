"""The event store's interleaving parts: migration 3 (each shown item's team), the clicked item sent as
Seldon feedback ``truth``, and ``read_interleaved``; on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa

from funflix.website import store


@pytest.fixture
def conn(db_url):
    engine = store.create_store_engine(db_url)
    store.migrate(engine)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def shown(conn, impression_id, teams=("control", "challenger", "control"), user_id=7):
    return store.record_impression(conn, impression_id=impression_id, user_id=user_id, items=[10, 20, 30],
                                   arm="interleaver", teams=list(teams) if teams is not None else None,
                                   request={"jsonData": {"user_id": user_id}},
                                   response={"meta": {"puid": impression_id, "tags": {"teams": teams}}})


def payloads(conn):
    with store.transaction(conn):
        return dict(conn.execute(sa.select(store.feedback.c.impression_id, store.feedback.c.payload)).all())


def test_a_click_sends_the_clicked_item_as_truth_and_a_miss_sends_none(conn):
    shown(conn, "a" * 32)
    store.record_click(conn, "a" * 32, 7, 20)
    shown(conn, "b" * 32, user_id=8)
    store.close_user_impressions(conn, 8)
    sent = payloads(conn)
    assert sent["a" * 32]["truth"] == {"jsonData": {"clicked": [20]}} and sent["a" * 32]["reward"] == 1
    assert "truth" not in sent["b" * 32] and sent["b" * 32]["reward"] == 0


def test_read_interleaved_gives_each_rows_teams_and_click(conn):
    shown(conn, "a" * 32)
    store.record_click(conn, "a" * 32, 7, 20)
    shown(conn, "b" * 32, teams=None, user_id=9)  # an A/B row: not interleaved
    frame = store.read_interleaved(conn)
    assert list(frame["impression_id"]) == ["a" * 32]
    row = frame.iloc[0]
    assert row["teams"] == ["control", "challenger", "control"] and row["items"] == [10, 20, 30]
    assert row["clicked_item"] == 20 and row["status"] == store.CLICKED


def test_read_interleaved_of_an_empty_store_has_the_columns(conn):
    frame = store.read_interleaved(conn)
    assert list(frame.columns) == store.INTERLEAVED_COLUMNS and frame.empty


def test_teams_must_match_the_items(conn):
    with pytest.raises(ValueError, match="one team per item"):
        shown(conn, "c" * 32, teams=("control",))


@pytest.mark.parametrize("applied", [(1,), (1, 2, 4, 5)], ids=["version-1", "main-without-interleaving"])
def test_migration_3_adds_the_teams_column_to_an_older_store(tmp_path, applied):
    """A store from before interleaving (version 1, or migrated to 5 by a build without it) gets its teams column."""
    engine = store.create_store_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    legacy = [c for c in store.impressions.columns if c.name != "teams"]
    with engine.begin() as connection:
        old = sa.MetaData()
        sa.Table("impressions", old, *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in legacy])
        old.create_all(connection)
        for table in (store.clicks, store.feedback, store.schema_version):
            table.create(connection)
        for version in applied:
            connection.execute(store.schema_version.insert().values(version=version, applied_at=store.utcnow()))
    assert [v for v, _ in store.MIGRATIONS] == [1, 2, 3, 4, 5]
    assert store.migrate(engine) == store.MIGRATIONS[-1][0]
    with engine.connect() as connection:
        assert "teams" in {c["name"] for c in sa.inspect(connection).get_columns("impressions")}
        assert set(connection.execute(sa.select(store.schema_version.c.version)).scalars()) == {1, 2, 3, 4, 5}
    engine.dispose()
