"""``funflix train`` logs each arm to MLflow: the local file store, and a real ``mlflow server``."""

import json
import os
import sys
import time
from pathlib import Path

import pytest
import requests

from funflix.cli import main
from funflix.models.artifacts import latest_version, read_metadata
from funflix.models.tracking import TRAINING_EXPERIMENT
from funflix.serving.processes import ManagedProcess, free_port_block

SERVER_START_SECONDS = 240  # `mlflow server` imports a lot; a loaded 2-core machine needs its time

pytestmark = pytest.mark.slow


def train(capsys, movielens_dir, *extra) -> dict:
    assert main(["train", "--path", str(movielens_dir), "--quick", "--arms", "control", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)["control"]


def runs_of(client, experiment_name=TRAINING_EXPERIMENT):
    experiment = client.get_experiment_by_name(experiment_name)
    return {run.info.run_id: run for run in client.search_runs([experiment.experiment_id])}


def assert_logged(client, trained: dict, root: Path, published: bool):
    run = client.get_run(trained["tracking"]["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["funflix.arm"] == "control" and run.data.tags["funflix.version"] == trained["version"]
    assert run.data.tags["funflix.published"] == str(published).lower()
    assert run.data.params["no_components"] == "16" and run.data.params["epochs"] == "5"
    assert run.data.params["split.test_users"] == "608" and run.data.params["data.threshold"] == "4.0"
    assert run.data.metrics["precision_at_10"] == pytest.approx(trained["metrics"]["precision@10"])
    assert set(run.data.metrics) == {"precision_at_10", "recall_at_10", "map_at_10", "ndcg_at_10", "auc"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "artifact")} == {
        "artifact/arrays.npz", "artifact/metadata.json"}
    assert read_metadata("control", trained["version"], root)["tracking"] == trained["tracking"]


def test_local_store_and_publish(home, movielens_dir, capsys, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = home / "models"
    first = train(capsys, movielens_dir)
    assert first["tracking"]["uri"] == (home / "mlruns").resolve().as_uri()
    client = MlflowClient(first["tracking"]["uri"])
    assert_logged(client, first, root, published=True)  # an arm's first model is published
    assert latest_version("control", root) == first["version"]

    time.sleep(1.1)  # versions carry a time stamp to the second
    second = train(capsys, movielens_dir)
    assert_logged(client, second, root, published=False)
    assert second["version"] != first["version"] and latest_version("control", root) == first["version"]

    time.sleep(1.1)
    third = train(capsys, movielens_dir, "--publish")
    assert_logged(client, third, root, published=True)
    assert latest_version("control", root) == third["version"]
    assert set(runs_of(client)) == {t["tracking"]["run_id"] for t in (first, second, third)}


@pytest.fixture()
def mlflow_server(tmp_path):
    port = free_port_block(1)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    server = ManagedProcess(
        "mlflow-server", [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
                          "--port", str(port), "--workers", "1",
                          "--backend-store-uri", (tmp_path / "server-store").as_uri(),
                          "--artifacts-destination", (tmp_path / "server-artifacts").as_uri()],
        tmp_path / "mlflow-server.log", f"http://127.0.0.1:{port}/health", env=env, cwd=tmp_path)
    server.start()
    try:
        server.wait_healthy(time.monotonic() + SERVER_START_SECONDS)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        server.stop()


def test_tracking_server(home, movielens_dir, capsys, monkeypatch, mlflow_server):
    from mlflow.tracking import MlflowClient

    url, server_dir = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    trained = train(capsys, movielens_dir)
    assert trained["tracking"]["uri"] == url and not (home / "mlruns").exists()
    assert_logged(MlflowClient(url), trained, home / "models", published=True)
    found = requests.post(f"{url}/api/2.0/mlflow/runs/search", timeout=10,
                          json={"experiment_ids": [trained["tracking"]["experiment_id"]]}).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [trained["tracking"]["run_id"]]
    assert list((server_dir / "server-artifacts").rglob("arrays.npz"))  # uploaded through the server


def test_unreachable_server_fails_before_training(home, movielens_dir, capsys, monkeypatch):
    port = free_port_block(1)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    assert main(["train", "--path", str(movielens_dir), "--quick", "--arms", "control"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"MLflow tracking at http://127.0.0.1:{port} is not usable" in err[0]
    assert latest_version("control", home / "models") is None and time.monotonic() - started < 120
