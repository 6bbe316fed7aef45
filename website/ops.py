"""Operations endpoints: Prometheus metrics, liveness and readiness."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from .auth import site

bp = Blueprint("ops", __name__)


@bp.route("/metrics")
def metrics():
    return Response(site().metrics.exposition(), mimetype="text/plain; version=0.0.4; charset=utf-8")


@bp.route("/healthz")
def healthz():
    """The process answers."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz():
    """Ready when the event store answers and the catalogue is loaded (the gateway may be down:
    pages then degrade to the fallback row, so it does not decide readiness)."""
    funflix = site()
    checks = {}
    try:
        with funflix.engine.execution_options(readonly=True).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["event_store"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        checks["event_store"] = f"error: {exc.__class__.__name__}"
    try:
        checks["catalog"] = f"ok ({len(funflix.catalog.movies)} movies)"
    except (OSError, ValueError) as exc:
        checks["catalog"] = f"error: {exc}"
    checks["gateway"] = "ok" if funflix.gateway.ready() else "recently failing (fallback rows)"
    ready = checks["event_store"] == "ok" and checks["catalog"].startswith("ok")
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
