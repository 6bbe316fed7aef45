"""Error pages: every refusal is a 4xx page (or JSON when the client asks for it), never a 500."""

from __future__ import annotations

import logging

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

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


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    current_app.extensions["funflix"].metrics.errors.labels("exception").inc()
    return _render(InternalServerError("Something went wrong on our side; the error has been logged."))


def init_app(app) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
