"""Catalogue pages: movie details with "More like this", genres, title search, posters."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from .auth import page_number, search_text, site
from .posters import poster_svg

bp = Blueprint("browse", __name__)

SIMILAR_K = 12
GRID_PAGE = 48


def movie_url(movie_id: int) -> str:
    """``url_for("browse.movie", ...)`` without the URL map walk (pages show ~50 cards)."""
    return f"{request.script_root}/movie/{movie_id}"


def poster_url(movie_id: int) -> str:
    """``url_for("browse.poster", ...)``, fast (see :func:`movie_url`)."""
    return f"{request.script_root}/poster/{movie_id}.svg"


@bp.route("/movie/<int:movie_id>")
def movie(movie_id: int):
    funflix = site()
    found = funflix.catalog.get(movie_id)
    if found is None:
        abort(404, f"There is no movie with id {movie_id}.")
    similar, source = funflix.similar(movie_id, SIMILAR_K)
    return render_template("movie.html", movie=found, similar=funflix.catalog.many(similar), similar_source=source)


@bp.route("/genres")
def genres():
    catalog = site().catalog
    shelves = [(genre, len(ids), catalog.many(ids[:6])) for genre, ids in catalog.genres.items()]
    return render_template("genres.html", shelves=shelves)


@bp.route("/genre/<name>")
def genre(name: str):
    catalog = site().catalog
    if name not in catalog.genres:
        abort(404, f"There is no genre called {name[:60]!r}.")
    page = page_number()
    ids = catalog.genres[name]
    movies = catalog.many(ids[(page - 1) * GRID_PAGE: page * GRID_PAGE])
    if page > 1 and not movies:
        abort(404, f"{name} has no page {page}.")
    return render_template("grid.html", heading=name, movies=movies, page=page,
                           pages=max(1, -(-len(ids) // GRID_PAGE)), total=len(ids), query=None)


@bp.route("/search")
def search():
    query = search_text()
    movies = site().catalog.search(query) if query else []
    return render_template("grid.html", heading=f"Results for “{query}”" if query else "Search",
                           movies=movies, page=1, pages=1, total=len(movies), query=query)


@bp.route("/poster/<int:movie_id>.svg")
def poster(movie_id: int):
    found = site().catalog.get(movie_id)
    if found is None:
        abort(404, f"There is no movie with id {movie_id}.")
    response = Response(poster_svg(found), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response.make_conditional(request)
