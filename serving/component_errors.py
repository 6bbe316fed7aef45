"""Bad-input guards for the Seldon components' own REST endpoints (Seldon registers them as the
user model's ``model_error_handler`` blueprint): a body-size limit (413) and absurdly deep JSON
(400 instead of a RecursionError's 500), answered in Seldon's error format."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

MAX_BODY = 64 * 1024


def _error(status: int, info: str):
    body = jsonify({"status": {"status": 1, "info": info, "code": -1, "reason": "MICROSERVICE_BAD_DATA"}})
    return body, status


def error_blueprint(max_body: int = MAX_BODY) -> Blueprint:
    """A blueprint refusing bodies over ``max_body`` bytes and JSON nested too deeply to parse."""
    blueprint = Blueprint("funflix_bad_input", __name__)

    @blueprint.before_app_request
    def limit_body():
        if request.content_length is not None and request.content_length > max_body:
            return _error(413, f"request body over the {max_body}-byte limit")
        return None

    @blueprint.app_errorhandler(RecursionError)
    def too_deep(_exc):
        return _error(400, "malformed JSON: nested too deeply")

    return blueprint
