"""Sign in as a MovieLens member (a picker with search) or as a new visitor; sign out."""

from __future__ import annotations

import functools
import secrets
import time

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from . import store
from .db import get_db

bp = Blueprint("auth", __name__)

#: New visitors get ids from here up: unknown to the models, so they get the cold-start list.
NEW_VISITOR_BASE = 10_000_000
NEW_VISITOR_SPAN = 2_000_000_000
PAGE_SIZE = 48
MAX_GENRES = 5
MAX_SEARCH_LENGTH = 100


def site():
    return current_app.extensions["funflix"]


@bp.before_app_request
def load_signed_in_user() -> None:
    user_id = session.get("user_id")
    g.user_id = user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    g.new_visitor = g.user_id is not None and g.user_id >= NEW_VISITOR_BASE
    genres = session.get("genres")
    g.genres = [x for x in genres if isinstance(x, str)] if isinstance(genres, list) else []


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user_id is None:
            return redirect(url_for("auth.signin"))
        return view(**kwargs)

    return wrapped


def page_number() -> int:
    """The ``page`` query parameter (1-based), or 400."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        abort(400, f"page must be a whole number from 1, got {raw[:20]!r}")
    return int(raw)


def search_text(name: str = "q") -> str:
    text = request.args.get(name, "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        abort(400, f"the search text is longer than {MAX_SEARCH_LENGTH} characters")
    return text


def current_visit() -> str:
    """The signed-in user's visit (one sitting): begins with the first row after sign-in, and anew after
    ``IMPRESSION_TTL`` seconds without a row (by then the last row was closed as unclicked anyway)."""
    now = time.time()
    if session.get("visit") is None or now - session.get("visit_at", 0.0) > current_app.config["IMPRESSION_TTL"]:
        session["visit"] = secrets.token_hex(16)
    session["visit_at"] = now
    return session["visit"]


def _end_session() -> None:
    """Close the signed-in user's open impressions (reward 0) and forget the user."""
    if g.user_id is not None:
        arms = store.close_user_impressions(get_db(), g.user_id)
        for arm in arms:
            site().metrics.unclicked.labels(arm).inc()
        if arms:
            site().events_changed()
    session.clear()


@bp.route("/signin", methods=("GET", "POST"))
def signin():
    catalog = site().catalog
    error, status = None, 200
    if request.method == "POST":
        genres = []
        if request.form.get("new_visitor"):
            user_id = NEW_VISITOR_BASE + secrets.randbelow(NEW_VISITOR_SPAN)
            genres = request.form.getlist("genres")
            unknown = [g[:40] for g in genres if g not in catalog.genres]
            if unknown:
                error, status = f"Unknown genre(s): {', '.join(unknown[:3])}.", 400
            elif len(genres) > MAX_GENRES:
                error, status = f"Pick at most {MAX_GENRES} genres.", 400
        else:
            raw = request.form.get("user_id", "").strip()
            user_id = int(raw) if raw.isdigit() and len(raw) <= 9 else None
            if user_id is None:
                error, status = f"A member id is a whole number; got {raw[:20]!r}.", 400
            elif user_id not in catalog.members:
                error, status = f"There is no MovieLens member {user_id}.", 404
        if error is None:
            _end_session()
            session["user_id"] = user_id
            if genres:
                session["genres"] = genres
            return redirect(url_for("recs.home"))
    query = search_text()
    page = page_number()
    members, total = catalog.find_members(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("signin.html", members=members, total=total, query=query, page=page,
                           pages=pages, error=error, genres=list(catalog.genres), max_genres=MAX_GENRES), status


@bp.route("/signout", methods=("POST",))
def signout():
    _end_session()
    return redirect(url_for("auth.signin"))
