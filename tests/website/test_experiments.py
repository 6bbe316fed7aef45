"""Experiment identity: stored with the events (migration 5), written by the site, read by the analysis."""

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
import yaml

from funflix.cli import main
from funflix.models.artifacts import latest_version
from funflix.serving.experiment_config import VALUES_FILE, load_experiment
from funflix.website import store
from funflix.website.experiment_page import compute
from funflix.website.experiments import find_experiment, list_experiments, register_experiment

from .test_store import engine  # noqa: F401 -- the migrated store on SQLite and PostgreSQL

V1_IMPRESSIONS = """CREATE TABLE impressions (id VARCHAR(32) PRIMARY KEY, puid VARCHAR(64), user_id BIGINT NOT NULL,
  arm VARCHAR(64), model_name VARCHAR(64), model_version VARCHAR(128), strategy VARCHAR(32), items JSON NOT NULL,
  request JSON, response JSON, created_at TIMESTAMP WITH TIME ZONE NOT NULL, status VARCHAR(16) NOT NULL,
  closed_at TIMESTAMP WITH TIME ZONE, clicked_at TIMESTAMP WITH TIME ZONE, clicked_item BIGINT)"""


@pytest.fixture
def config():
    return load_experiment()


def salted(config, salt):
    return replace(config, salt=salt)


def test_migration_5_upgrades_a_version_1_store(db_url):
    engine = store.create_store_engine(db_url)
    with engine.begin() as conn:
        store.schema_version.create(conn)
        conn.exec_driver_sql(V1_IMPRESSIONS)
        for table in (store.clicks, store.feedback):
            table.create(conn)
        conn.execute(store.schema_version.insert().values(version=1, applied_at=store.utcnow()))
        conn.execute(sa.text("INSERT INTO impressions (id, user_id, arm, items, created_at, status) "
                             "VALUES ('old', 1, 'control', '[1]', :now, 'open')"), {"now": store.utcnow()})
    assert store.migrate(engine) == 5
    assert store.migrate(engine) == 5
    inspector = sa.inspect(engine)
    assert "experiment_id" in {c["name"] for c in inspector.get_columns("impressions")}
    assert "ix_impressions_experiment_arm" in {i["name"] for i in inspector.get_indexes("impressions")}
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.impressions.c.experiment_id)).scalars().all() == [None]
        assert find_experiment(conn) is None  # nothing registered yet: analyses read every row
    frame = store.load_impressions(db_url)
    assert frame["impression_id"].tolist() == ["old"] and frame.attrs["experiment"] is None
    engine.dispose()


def test_identity_is_name_salt_and_versions_not_the_split(engine, config):
    now = store.utcnow()
    with engine.connect() as conn:
        first = register_experiment(conn, config, now=now)
        again = register_experiment(conn, config, now=now + timedelta(hours=1))
        ramped = register_experiment(conn, replace(config, arms=tuple(replace(a, split=s) for a, s in
                                                                        zip(config.arms, (0.2, 0.8)))))
        assert first == again == ramped and first.started_at == now and first.ended_at is None
        assert first.id.startswith(f"{config.name}-") and first.salt == config.salt
        assert [a["version"] for a in first.arms] == ["latest", "latest"]  # no artifacts at hand here

        second = register_experiment(conn, salted(config, "rotated"), now=now + timedelta(hours=2))
        assert second.id != first.id and second.name == first.name
        assert register_experiment(conn, config, now=now + timedelta(hours=3)) == replace(
            first, ended_at=now + timedelta(hours=2))  # an old pod restarting does not reopen it
        stored = list_experiments(conn)
        assert [e.id for e in stored] == [second.id, first.id]
        assert find_experiment(conn) == second == find_experiment(conn, config.name)
        assert find_experiment(conn, first.id).ended_at == now + timedelta(hours=2)
        with pytest.raises(ValueError, match=rf"no experiment 'nope' in the event store; stored: {second.id}"):
            find_experiment(conn, "nope")


def test_versions_resolve_from_the_models_at_hand(engine, config, quick_models_root):
    with engine.connect() as conn:
        record = register_experiment(conn, config, quick_models_root)
    assert [a["version"] for a in record.arms] == [latest_version(a.model, quick_models_root) for a in config.arms]
    assert all(a["version"].startswith("v") for a in record.arms)


def test_concurrent_registrations_leave_one_open_experiment(engine, config):
    configs = [salted(config, f"salt-{i % 3}") for i in range(24)]

    def register(experiment):
        with engine.connect() as conn:
            return register_experiment(conn, experiment).id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(register, configs))
    with engine.connect() as conn:
        stored = list_experiments(conn)
    assert len(set(ids)) == 3 == len(stored)
    assert sum(e.ended_at is None for e in stored) == 1


def values_file(tmp_path, salt):
    document = yaml.safe_load(VALUES_FILE.read_text())
    document["experiment"]["salt"] = salt
    path = tmp_path / f"values-{salt}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_site_tags_impressions_and_analysis_reads_one_experiment(make_app, tmp_path, sqlite_url, capsys):
    first_app = make_app(EXPERIMENT_VALUES=str(values_file(tmp_path, "first")))
    first = first_app.extensions["funflix"].experiment
    client = first_app.test_client()
    for user in (1, 2, 3):
        client.post("/signin", data={"user_id": user})
        assert client.get("/").status_code == 200
    second_app = make_app(EXPERIMENT_JSON=json.dumps({**yaml.safe_load(VALUES_FILE.read_text())["experiment"],
                                                     "salt": "second"}))
    second = second_app.extensions["funflix"].experiment
    assert second.id != first.id and second.salt == "second"
    client = second_app.test_client()
    client.post("/signin", data={"user_id": 4})
    assert client.get("/").status_code == 200

    with first_app.extensions["funflix"].engine.connect() as conn:
        rows = conn.execute(sa.select(store.impressions.c.user_id, store.impressions.c.experiment_id)
                            .order_by(store.impressions.c.created_at)).all()
    assert [tuple(r) for r in rows] == [(1, first.id), (2, first.id), (3, first.id), (4, second.id)]
    for app, shown in ((first_app, 3), (second_app, 1)):  # /experiment analyses the site's own experiment
        context = compute(app.extensions["funflix"])
        assert sum(a.impressions for a in context["result"].arms) == shown

    def analyzed(*extra):
        assert main(["analyze", "--db-url", sqlite_url, "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    current = analyzed()
    assert current["experiment"]["id"] == second.id and sum(a["impressions"] for a in current["arms"]) == 1
    earlier = analyzed("--experiment", first.id)
    assert earlier["experiment"]["ended_at"] and sum(a["impressions"] for a in earlier["arms"]) == 3
    assert analyzed("--experiment", first.name)["experiment"]["id"] == second.id  # a name: its latest run
    assert main(["analyze", "--db-url", sqlite_url, "--experiment", "typo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no experiment 'typo' in the event store; stored: " in err[0]
    assert main(["analyze", "--db-url", sqlite_url]) == 0
    assert capsys.readouterr().out.startswith(f"experiment {second.id}: started ")


def test_bad_experiment_json_is_a_clear_error(make_app):
    with pytest.raises(ValueError, match="EXPERIMENT_JSON is not JSON"):
        make_app(EXPERIMENT_JSON="{salt: x")


def test_csv_and_experiment_do_not_mix(tmp_path, capsys):
    csv = tmp_path / "impressions.csv"
    shutil.copy(__file__, csv)
    assert main(["analyze", "--csv", str(csv), "--experiment", "x"]) == 2
    assert "a --csv file is one experiment already" in capsys.readouterr().err
