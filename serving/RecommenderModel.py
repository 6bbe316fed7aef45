"""Seldon MODEL component serving one arm's recommender.

Start with ``seldon-core-microservice funflix.serving.RecommenderModel.RecommenderModel
--service-type MODEL --parameters '[{"name": "arm", "value": "challenger", "type": "STRING"}]'``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from flask import Response, has_request_context
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from seldon_core.flask_utils import SeldonMicroserviceException, get_request
from seldon_core.proto import prediction_pb2
from seldon_core.user_model import SeldonNotImplementedError, SeldonResponse
from seldon_core.utils import json_to_seldon_message
from sqlalchemy.exc import SQLAlchemyError

from funflix import paths
from funflix.serving import metric_names
from funflix.serving.component_errors import error_blueprint
from funflix.serving.experiment_config import NODE_NAME
from funflix.serving.feedback_ledger import CREDITED, OTHER_ARM, FeedbackLedger
from funflix.serving.interleaving_credit import is_interleaved, team_credit
from funflix.serving.ledger_metrics import ledger_exposition
from funflix.serving.recommend_request import InvalidRequest, parse_features
from funflix.serving.seldon_metrics_lock import serialise_updates

log = logging.getLogger(__name__)


def _request_json() -> dict:
    """The REST feedback as Seldon parsed it (before it became a proto, where a missing reward reads 0)."""
    body = get_request()
    return body if isinstance(body, dict) else {}


class RecommenderModel:
    """Top-k recommendations of one arm, with per-arm impression and click counters.

    Parameters (graph ``parameters``, all STRING)
    ----------
    arm : graph node name of this arm ("control", "challenger"); tags responses and metrics.
    model : artifact folder name under the models root (default: ``arm``).
    version : artifact version, or "latest".
    models_root : folder holding ``<model>/<version>/`` (default: ``<FUNFLIX_HOME>/models``).
    ledger : where credited feedback is recorded: a SQLite file or a ``postgresql+psycopg2://`` URL shared by
        every replica (default: the ``FUNFLIX_LEDGER_URL`` environment variable, else the SQLite file
        ``<FUNFLIX_HOME>/serving/feedback-<arm>.sqlite``).
    replica : this replica's name in the ledger's tallies (default: the host name, a pod's name on a cluster).

    The arm's impression, click and ignored-feedback counters are the ledger's tallies, served on the
    component's REST port at :data:`~funflix.serving.metric_names.LEDGER_METRICS_PATH` (Seldon's own
    metrics port keeps the served lists and latency).
    """

    def __init__(self, arm: str = "control", model: str = "", version: str = "latest", models_root: str = "",
                 ledger: str = "", replica: str = ""):
        if not isinstance(arm, str) or not NODE_NAME.match(arm):
            raise ValueError(f"arm must be a graph node name like 'control', got {arm!r}")
        if not str(version).strip():
            raise ValueError("version must be an artifact version or 'latest'")
        self.arm = arm
        self.model = model or arm
        self.version = str(version)
        self.models_root = Path(models_root) if models_root else None
        self.ledger_location = (ledger or os.environ.get("FUNFLIX_LEDGER_URL")
                                or str(paths.sub("serving") / f"feedback-{arm}.sqlite"))
        self.replica = replica or socket.gethostname()
        self._recommender = None
        self._ledger = None
        self._local = threading.local()
        # Seldon registers this blueprint on the component's Flask app: bad-input guards and the ledger's metrics
        self.model_error_handler = error_blueprint()
        self.model_error_handler.add_url_rule(metric_names.LEDGER_METRICS_PATH, "ledger_metrics", self.ledger_metrics)
        serialise_updates()  # served lists and latency go through Seldon's metrics: lose none

    def load(self) -> None:
        """Load the artifact (once per gunicorn worker, after the fork)."""
        from funflix.models.artifacts import load_recommender

        self._recommender = load_recommender(self.model, self.version, root=self.models_root)
        self._ledger = FeedbackLedger(self.ledger_location, self.arm, self.replica)
        log.info("arm %s serves %s %s (%d items)", self.arm, self._recommender.name, self._recommender.version,
                 self._recommender.n_items)

    @property
    def recommender(self):
        if self._recommender is None:
            raise SeldonMicroserviceException(f"arm {self.arm}: model not loaded", status_code=503,
                                              reason="MICROSERVICE_NOT_READY")
        return self._recommender

    def predict(self, X, feature_names, meta=None) -> SeldonResponse:
        """The ranked list for the request's user, as an ordered ``{movieId: score}`` mapping and lists.

        The request's metrics (served list, latency) ride along as Seldon runtime metrics: Seldon
        writes them in the one shared-memory update it makes per request anyway.
        """
        try:
            request = parse_features(X)
        except InvalidRequest as exc:
            raise SeldonMicroserviceException(str(exc), status_code=400) from None
        recommender = self.recommender
        unknown = sorted(set(request.genres) - set(recommender.genres))
        if unknown:  # refused even when the user is known and the genres would go unused
            raise SeldonMicroserviceException(f"unknown genre(s) {unknown}; known: {', '.join(recommender.genres)}")
        started = time.perf_counter()
        try:
            rec = recommender.recommend(request.user_id, request.k, list(request.genres) or None)
        except ValueError as exc:  # k beyond the catalogue
            raise SeldonMicroserviceException(str(exc), status_code=400) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._record(
            {"type": "COUNTER", "key": metric_names.RECOMMENDATIONS, "value": 1, "tags": {"arm": self.arm}},
            {"type": "TIMER", "key": metric_names.PREDICT_LATENCY, "value": elapsed_ms, "tags": {"arm": self.arm}},
        )
        return SeldonResponse({
            "user_id": request.user_id,
            "recommendations": {str(item): score for item, score in zip(rec.items, rec.scores)},
            "items": rec.items,
            "scores": rec.scores,
            "model": {"name": recommender.name, "version": recommender.version},
            "strategy": rec.strategy,
        }, metrics=self.metrics())

    def send_feedback_raw(self, feedback: prediction_pb2.Feedback) -> prediction_pb2.SeldonMessage:
        """Credit reward 1 (clicked) or 0 (not clicked) to this arm, once per served list.

        Seldon broadcasts feedback without routing to every child, so the served response's
        ``meta.tags.arm`` decides which arm the list came from (an interleaved list, whose tags name a
        team per item, credits this arm's team instead); its ``meta.puid`` is recorded in
        the ledger so replays count once. (The raw form is needed: the plain ``send_feedback``
        hook does not see the served response's meta.)
        """
        if has_request_context() and _request_json().get("reward") is None:
            # proto3 reads a missing (or null) reward as 0: unchecked, it would be a silent "not clicked"
            raise SeldonMicroserviceException("feedback needs a reward: 1 (clicked) or 0 (not clicked)")
        reward = feedback.reward
        if reward not in (0.0, 1.0):
            raise SeldonMicroserviceException(f"reward must be 0 (not clicked) or 1 (clicked), got {reward:g}")
        meta = feedback.response.meta
        if not feedback.HasField("response") or not meta.puid:
            raise SeldonMicroserviceException("feedback needs the served response, with its meta.puid and meta.tags")
        if is_interleaved(meta):
            return self._interleaved_feedback(feedback)
        served = meta.tags.get("arm")
        if served is None or served.WhichOneof("kind") != "string_value":
            raise SeldonMicroserviceException("the served response has no meta.tags.arm naming the arm that served it")
        with self._ledger_available():
            if served.string_value != self.arm:
                self.ledger.ignore_other_arm()
                outcome = OTHER_ARM
            else:
                outcome = self.ledger.credit(meta.puid, int(reward))
        return json_to_seldon_message({
            "jsonData": {"arm": self.arm, "puid": meta.puid, "reward": reward, "outcome": outcome,
                         "credited": outcome == CREDITED},
            "meta": {"tags": self.tags()},
        })

    def _interleaved_feedback(self, feedback: prediction_pb2.Feedback) -> prediction_pb2.SeldonMessage:
        """Credit this arm's team in an interleaved list once (see :mod:`funflix.serving.interleaving_credit`)."""
        credit = team_credit(feedback, self.arm)
        puid = feedback.response.meta.puid
        with self._ledger_available():
            outcome = self.ledger.credit_team(puid, credit.clicks, credit.outcome)
        return json_to_seldon_message({
            "jsonData": {"arm": self.arm, "puid": puid, "reward": feedback.reward, "outcome": outcome,
                         "credited": outcome == CREDITED, "team_clicks": credit.clicks,
                         "team_outcome": credit.outcome},
            "meta": {"tags": self.tags()},
        })

    @property
    def ledger(self) -> FeedbackLedger:
        if self._ledger is None:
            raise SeldonMicroserviceException(f"arm {self.arm}: model not loaded", status_code=503,
                                              reason="MICROSERVICE_NOT_READY")
        return self._ledger

    def ledger_metrics(self) -> Response:
        """The arm's ledger tallies as Prometheus counters (exact: read from the ledger at scrape time)."""
        with self._ledger_available():
            counts = self.ledger.arm_counts()
        return Response(ledger_exposition(counts, self.arm), mimetype=CONTENT_TYPE_LATEST)

    @contextmanager
    def _ledger_available(self):
        """A ledger database that fails (down, locked past its timeout) is a 503: retry later, nothing counted."""
        try:
            yield
        except SQLAlchemyError as exc:
            log.error("arm %s: feedback ledger unavailable: %s", self.arm, exc)
            raise SeldonMicroserviceException(f"arm {self.arm}: feedback ledger unavailable "
                                              f"({exc.__class__.__name__}); retry later", status_code=503,
                                              reason="MICROSERVICE_NOT_READY") from None

    def _record(self, *metrics: dict) -> None:
        self._local.__dict__.setdefault("pending", []).extend(metrics)

    def metrics(self) -> list[dict]:
        """This thread's metric increments since the last call: the served-lists COUNTER and the latency TIMER.

        ``predict`` hands them to Seldon with its answer. Seldon also calls ``metrics()`` after
        every request and then pays a shared-memory update (six round trips to a multiprocessing
        manager, ~0.4 ms) even for an empty list, so with nothing new this answers Seldon's "not
        implemented", which skips that update.
        """
        pending = self._local.__dict__.pop("pending", [])
        if not pending:
            raise SeldonNotImplementedError("no new metrics")
        return pending

    def tags(self) -> dict:
        """Meta tags of every response: the arm and the model that served it."""
        if self._recommender is None:
            return {"arm": self.arm}
        return {"arm": self.arm, "model_name": self._recommender.name, "model_version": self._recommender.version}

    def health_status(self) -> dict:
        """The loaded model (503 until it is loaded)."""
        recommender = self.recommender
        return {"arm": self.arm, "model": recommender.name, "version": recommender.version,
                "n_items": recommender.n_items}

    def init_metadata(self) -> dict:
        return {"name": self.arm, "versions": [self.version], "platform": "lightfm",
                "custom": {"model": self.model}}
