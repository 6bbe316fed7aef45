"""Experiment tracking: every ``funflix train`` run is logged to MLflow.

One MLflow run per trained arm, in the MLflow experiment :data:`TRAINING_EXPERIMENT`: the arm's
hyperparameters, data settings and split as params; its offline metrics; the artifact folder
(``arrays.npz``, ``metadata.json``) as the run's artifacts under ``artifact/``; tags naming the
arm, version, data checksum and whether the version was published. The run id is written back
into the artifact's ``metadata.json`` (``tracking``), so an experiment that serves a version can
link it to its run.

Where: ``MLFLOW_TRACKING_URI`` when set (a tracking server, or any store MLflow accepts), else a
local file store under ``$FUNFLIX_HOME/mlruns``. MLflow 3 keeps its file store in maintenance
mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is set: Funflix sets it for that default
store only. MLflow is imported here alone, never by the serving components.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from funflix import paths
from funflix.models.artifacts import METADATA, write_metadata

TRAINING_EXPERIMENT = "funflix-training"
#: A server that does not answer fails the command in seconds, not after MLflow's default minutes;
#: run links stay off stdout, which holds ``--json`` output (Funflix prints the run ids itself).
_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
               "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or refused a write."""


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the local file store ``$FUNFLIX_HOME/mlruns``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or paths.sub("mlruns").as_uri()


def _client(uri: str):
    for key, value in _CLIENT_ENV.items():
        os.environ.setdefault(key, value)
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise TrackingError(f"MLflow is not installed ({exc}); install funflix's main environment") from None
    return MlflowClient(tracking_uri=uri)


def training_experiment(uri: str | None = None) -> tuple[object, str]:
    """The MLflow client and the id of :data:`TRAINING_EXPERIMENT` (created on first use).

    Called before training, so an unreachable server stops the command before the work starts.
    """
    from mlflow.exceptions import MlflowException

    uri = uri or tracking_uri()
    client = _client(uri)
    try:
        experiment = client.get_experiment_by_name(TRAINING_EXPERIMENT)
        if experiment is not None:
            return client, experiment.experiment_id
        try:
            return client, client.create_experiment(TRAINING_EXPERIMENT)
        except MlflowException:  # created concurrently by another run
            return client, client.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id
    except Exception as exc:  # MlflowException or requests' connection errors
        raise TrackingError(f"MLflow tracking at {uri} is not usable: {exc}") from None


def _params(meta: dict) -> dict[str, str]:
    params = {key: meta["config"][key] for key in meta["config"] if key != "name"}
    params.update({f"data.{key}": value for key, value in meta["data"].items() if key != "checksum"})
    params.update({f"split.{key}": value for key, value in meta["split"].items()})
    return {key: str(value) for key, value in params.items()}


def metric_key(name: str) -> str:
    """MLflow's key for a Funflix metric name (MLflow allows no ``@``): ``precision@10`` -> ``precision_at_10``."""
    return name.replace("@", "_at_")


def log_training(saved: dict[str, dict], client, experiment_id: str) -> dict[str, dict]:
    """Log each arm from :func:`train_and_save`'s result as one MLflow run; returns ``{arm: tracking}``.

    ``tracking`` is ``{"uri", "experiment_id", "run_id"}``, also stored in the artifact's metadata.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.utils.time import get_current_time_millis

    tracked = {}
    for arm, meta in saved.items():
        tags = {"funflix.arm": arm, "funflix.version": meta["version"], "funflix.data_checksum": meta["data"]["checksum"],
                "funflix.published": str(meta["published"]).lower()}
        run = client.create_run(experiment_id, run_name=f"{arm} {meta['version']}", tags=tags)
        run_id = run.info.run_id
        try:
            now = get_current_time_millis()
            client.log_batch(run_id, params=[Param(k, v) for k, v in _params(meta).items()],
                             metrics=[Metric(metric_key(k), float(v), now, 0) for k, v in meta["metrics"].items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])
            tracking = {"uri": client.tracking_uri, "experiment_id": experiment_id, "run_id": run_id}
            folder = Path(meta["path"])
            write_metadata(folder, {**json.loads((folder / METADATA).read_text()), "tracking": tracking})
            client.log_artifacts(run_id, str(folder), artifact_path="artifact")
        except Exception as exc:
            client.set_terminated(run_id, status="FAILED")
            raise TrackingError(f"logging {arm} {meta['version']} to MLflow failed: {exc}") from None
        client.set_terminated(run_id)
        tracked[arm] = tracking
    return tracked
