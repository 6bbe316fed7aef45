"""Funflix, the mock streaming site where the A/B test's impressions and clicks are born.

Run it with ``gunicorn "funflix.website:create_app()"`` (or ``flask --app funflix.website run``).
Configuration comes from :data:`DEFAULTS`, overridden by ``FUNFLIX_<KEY>`` environment variables
(e.g. ``FUNFLIX_GATEWAY_URL``, ``FUNFLIX_DATABASE_URL``, ``FUNFLIX_SECRET_KEY``,
``FUNFLIX_GATEWAY_TIMEOUT``), or by the mapping given to :func:`create_app` in tests.

Experiment: at start-up the site records the experiment it serves (name, salt, the arms' model
versions; ``website/experiments.py``) from ``EXPERIMENT_JSON``, else the values file
``EXPERIMENT_VALUES``, else ``charts/funflix/values.yaml``, and tags every impression with its id.

Pages: ``/signin`` (pick a MovieLens member, or a new visitor for a cold start), ``/`` (home: the
"Recommended for you" row from the unified Seldon endpoint, then popular and genre rows),
``/movie/<id>`` (details and "More like this"), ``/genres``, ``/genre/<name>``, ``/search?q=``,
``/experiment`` (per-arm CTR from the event store), ``/click/<token>/<id>`` (the tracked click),
``/poster/<id>.svg``, ``/metrics``, ``/healthz``, ``/readyz``.

Impressions: each rendered "Recommended for you" row is one impression, stored with the Seldon
response that produced it. Its items link to ``/click/<token>/<movie_id>``, which records the click,
queues reward-1 feedback once per impression and redirects to the movie page. An impression that
ends without a click gets reward 0 when the same user gets a new row (next home page view), at
sign-out, or when the housekeeper finds it older than ``IMPRESSION_TTL`` seconds (also the click
token's lifetime). A click link is refused (not counted) when its token is forged (400), belongs
to another session (403) or has expired (410); a repeated click, or a click on a second item of the
same row, is recorded but the row counts once. When the gateway is down or slow the row comes from
popularity, is marked fallback, is stored with no arm and gets no feedback. Every response carries
``Server-Timing: app;dur=<ms>`` (plus ``seldon;dur=<ms>`` on the home page).

Stable attributes for browser tests and bots
--------------------------------------------
``data-testid="rec-row"``
    The "Recommended for you" ``<section>``, with ``data-impression-id``, ``data-arm`` (empty on
    fallback), ``data-model-version``, ``data-strategy``, ``data-fallback`` ("true"/"false") and
    ``data-k`` (number of items).
``data-testid="rec-item"``
    Each item link in that row, with ``data-movie-id`` and ``data-position`` (0-based).
``data-testid="fallback-notice"``
    The notice shown when the row is a fallback.
``data-testid="movie-card"``
    Any other movie link (popular, genre, search, "More like this" rows), with ``data-movie-id``.
``data-testid="similar-row"``
    The "More like this" section of a movie page, with ``data-source`` ("model" or "genres").
``id="movie-detail"``
    The movie page's main block, with ``data-movie-id``; inside, ``id="movie-title"``,
    ``id="movie-year"``, ``id="movie-genres"``, ``id="movie-rating"``.
``id="signin-form"``, ``id="member-search"``, ``data-testid="member-option"`` (``data-user-id``),
``id="new-visitor"`` (its form's ``data-testid="genre-choice"`` checkboxes, ``value`` = genre),
``id="signout"``, ``id="search-form"``, ``data-testid="signed-in-user"``
(``data-user-id``), ``data-testid="arm-summary"`` rows on ``/experiment`` (``data-arm``,
``data-impressions``, ``data-clicks``), ``data-testid="verdict"`` (``data-decision``).
"""

from __future__ import annotations

import os
import secrets
import time

from flask import Flask, g, request
from jinja2 import ChoiceLoader, PackageLoader
from werkzeug.exceptions import RequestURITooLarge

from funflix import paths

DEFAULTS = {
    "GATEWAY_URL": "http://127.0.0.1:8000",  # Seldon unified endpoint base (local gateway or executor)
    "GATEWAY_TIMEOUT": 0.5,  # seconds for a recommendation before the fallback row is shown
    "GATEWAY_RETRY_AFTER": 2.0,  # seconds to skip the gateway after a failure
    "FEEDBACK_TIMEOUT": 2.0,  # seconds per feedback post
    "FEEDBACK_LEASE": 30.0,  # seconds a sender holds a claimed outbox row (one post): over 2 x FEEDBACK_TIMEOUT
    "DATABASE_URL": "",  # SQLAlchemy URL; empty means SQLite under paths.sub("website")
    "SECRET_KEY": "",  # signs sessions and click tokens; empty means a key kept in paths.sub("website")
    "RECS_K": 10,  # items in the "Recommended for you" row
    "IMPRESSION_TTL": 1800.0,  # seconds a row stays clickable (token lifetime, then reward 0)
    "HOUSEKEEPING_INTERVAL": 5.0,  # seconds between flushes; 0 = no thread, deliver feedback inline
    "MOVIELENS_PATH": "",  # folder with movies.csv and ratings.csv; empty = funflix.data's resolution
    "MOVIELENS_DATASET": "ml-latest-small",
    "MODELS_ROOT": "",  # models root for "More like this"; empty = <home>/models
    "SIMILAR_ARM": "control",  # which arm's artifacts answer "More like this"
    "EXPERIMENT_VALUES": "",  # values file with the experiment section; empty = charts/funflix/values.yaml
    "EXPERIMENT_JSON": "",  # the `experiment` section as JSON (the chart sets it); wins over EXPERIMENT_VALUES
    "EXPERIMENT_CACHE_SECONDS": 5.0,  # /experiment recomputes at most this often
    "MAX_QUERY_LENGTH": 2048,  # bytes of query string accepted (longer: 414)
    "MAX_CONTENT_LENGTH": 64 * 1024,  # bytes of request body accepted (longer: 413)
}


def _from_environment() -> dict:
    """``FUNFLIX_<KEY>`` variables, cast to the type of the key's default."""
    found = {}
    for key, default in DEFAULTS.items():
        raw = os.environ.get(f"FUNFLIX_{key}")
        if raw is None:
            continue
        try:
            found[key] = type(default)(raw)
        except ValueError as exc:
            raise ValueError(f"FUNFLIX_{key}={raw!r}: expected {type(default).__name__}") from exc
    return found


def _stored_secret_key() -> str:
    """A random key kept in the git-ignored website folder, shared by all workers and restarts."""
    path = paths.sub("website") / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(test_config: dict | None = None) -> Flask:
    """Create the Funflix site; ``test_config`` replaces the environment (tests)."""
    app = Flask(__name__, instance_path=str(paths.sub("website")), instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(_from_environment())
    else:
        app.config.update(test_config)
    if not app.config["DATABASE_URL"]:
        from .store import default_url

        app.config["DATABASE_URL"] = default_url()
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _stored_secret_key()
    for key in ("MOVIELENS_PATH", "MODELS_ROOT"):
        app.config[key] = app.config[key] or None
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True

    from . import auth, browse, db, errors, experiment_page, ops, recs
    from .catalog import stars
    from .site import Site

    app.extensions["funflix"] = Site(app.config)
    # the analysis's own templates (the report's macro renders /experiment too)
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PackageLoader("funflix.experiment")])
    app.jinja_env.globals.update(stars=stars, movie_url=browse.movie_url, poster_url=browse.poster_url,
                                 inf=float("inf"))
    db.init_app(app)
    errors.init_app(app)
    for blueprint in (auth.bp, recs.bp, browse.bp, experiment_page.bp, ops.bp):
        app.register_blueprint(blueprint)

    @app.before_request
    def _start_request():
        g.started = time.perf_counter()
        g.server_timing = {}
        if len(request.query_string) > app.config["MAX_QUERY_LENGTH"]:
            raise RequestURITooLarge(f"the query string is longer than {app.config['MAX_QUERY_LENGTH']} bytes")

    @app.after_request
    def _observe_request(response):
        """Page-render histogram, and a ``Server-Timing`` header (``app``, and ``seldon`` on the home page)."""
        started = g.get("started")
        if started is None:
            return response
        elapsed = time.perf_counter() - started
        if request.endpoint and request.endpoint not in ("static", "ops.metrics"):
            app.extensions["funflix"].metrics.page_seconds.labels(request.endpoint).observe(elapsed)
        timings = {"app": elapsed, **g.get("server_timing", {})}
        response.headers["Server-Timing"] = ", ".join(f"{name};dur={1000 * seconds:.2f}" for name, seconds in timings.items())
        return response

    return app
