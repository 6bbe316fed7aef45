"""The home page with its "Recommended for you" row (an impression) and the tracked click."""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, abort, g, redirect, render_template, url_for

from . import store
from .auth import current_visit, login_required, site
from .catalog import Movie
from .db import get_db
from .gateway import SeldonCallError
from .tokens import TokenError

bp = Blueprint("recs", __name__)

GENRE_ROWS = 2


def _movies(catalog, movie_ids) -> list[Movie]:
    """Movies for ids, keeping ids the catalogue lacks (shown as "Movie #id") so the row is the impression."""
    return [catalog.get(m) or Movie(m, f"Movie #{m}", None, (), None, 0) for m in movie_ids]


@bp.route("/")
@login_required
def home():
    funflix = site()
    catalog, k = funflix.catalog, funflix.config["RECS_K"]
    impression_id = uuid.uuid4().hex
    fallback_reason = None
    started = time.perf_counter()
    try:
        served = funflix.gateway.recommend(g.user_id, k, g.genres)
    except SeldonCallError as exc:
        fallback_reason = exc.kind
        funflix.metrics.errors.labels(f"gateway_{exc.kind}").inc()
        funflix.metrics.fallback_impressions.labels(exc.kind).inc()
        items = catalog.popular_items(k)
        closed = store.record_impression(get_db(), impression_id=impression_id, user_id=g.user_id, items=items,
                                         arm=None, strategy="fallback", experiment_id=funflix.experiment_id)
        row = {"arm": "", "model_version": "", "strategy": "fallback"}
    else:
        g.server_timing["seldon"] = time.perf_counter() - started
        items = served.items
        closed = store.record_impression(
            get_db(), impression_id=impression_id, user_id=g.user_id, items=items, arm=served.arm,
            model_name=served.model_name, model_version=served.model_version, strategy=served.strategy,
            puid=served.puid, request=served.request, response=served.response, teams=served.teams,
            visit=current_visit(), experiment_id=funflix.experiment_id)
        funflix.metrics.impressions.labels(served.arm).inc()
        row = {"arm": served.arm, "model_version": served.model_version or "", "strategy": served.strategy or ""}
    for arm in closed:
        funflix.metrics.unclicked.labels(arm).inc()
    if closed:
        funflix.events_changed()
    token = funflix.tokens.sign(impression_id, g.user_id)
    member = catalog.members.get(g.user_id)
    genre_rows = [(genre, catalog.many(catalog.genres.get(genre, [])[:k]))
                  for genre in (member.favourite_genres[:GENRE_ROWS] if member else ())]
    return render_template(
        "home.html", impression_id=impression_id, token=token, rec=row, fallback_reason=fallback_reason,
        recommended=_movies(catalog, items), popular=catalog.many(catalog.popular_items(k)),
        top_rated=catalog.many(catalog.top_rated(k)), genre_rows=genre_rows, member=member)


@bp.route("/click/<token>/<int:movie_id>")
def click(token: str, movie_id: int):
    """Record a click from the "Recommended for you" row, then open the movie page."""
    funflix = site()
    try:
        impression_id, user_id = funflix.tokens.verify(token)
        if g.user_id != user_id:
            raise TokenError("this recommendation link belongs to another member's session", 403)
    except TokenError as exc:
        funflix.metrics.click_events.labels(f"refused_{exc.status}").inc()
        abort(exc.status, str(exc))
    try:
        outcome = store.record_click(get_db(), impression_id, user_id, movie_id)
    except LookupError:
        funflix.metrics.click_events.labels("refused_404").inc()
        abort(404, "this recommendation row is unknown")
    except ValueError:
        funflix.metrics.click_events.labels("refused_400").inc()
        abort(400, f"movie {movie_id} is not part of this recommendation row")
    if outcome.counted:
        result = "counted"
        funflix.metrics.clicks.labels(outcome.arm).inc()
        funflix.events_changed()
    elif not outcome.recorded:
        result = "repeat"
    elif outcome.status == store.CLICKED:
        result = "extra_item"
    elif outcome.status == store.FALLBACK:
        result = "fallback"
    else:
        result = "late"
    funflix.metrics.click_events.labels(result).inc()
    return redirect(url_for("browse.movie", movie_id=movie_id))
