"""Error pages: every refusal is a 4xx page (or JSON when the client asks for it), never a 500."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _render(error: HTTPException):
    current_app.extensions["funflix"].metrics.errors.labels(f"http_{error.code}").inc()
    if _wants_json():
        return jsonify(error=error.name, status=error.code, message=error.description), error.code
    return render_template("error.html", error=error), error.code


def handle_http_error(error: HTTPException):
    return _render(error)


def handle_store_error(error: sa.exc.DBAPIError):
    """The event store failed: refuse the page (503) rather than show a row that cannot be counted."""
    log.error("event store error on %s %s: %s", request.method, request.path, error)
    current_app.extensions["funflix"].metrics.errors.labels("event_store").inc()
    return _render(ServiceUnavailable("The event store is unavailable right now; please try again shortly."))


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    current_app.extensions["funflix"].metrics.errors.labels("exception").inc()
    return _render(InternalServerError("Something went wrong on our side; the error has been logged."))


def init_app(app) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(sa.exc.DBAPIError, handle_store_error)
    app.register_error_handler(Exception, handle_unexpected)
