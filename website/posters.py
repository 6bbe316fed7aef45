"""Posters drawn locally as SVG from a movie's title, year and genres (nothing external)."""

from __future__ import annotations

import hashlib
import textwrap
from xml.sax.saxutils import escape

from .catalog import Movie

GENRE_COLOURS = {
    "Action": "#d7263d", "Adventure": "#f46036", "Animation": "#ffb400", "Children": "#7bc950",
    "Comedy": "#ffd23f", "Crime": "#3d3b8e", "Documentary": "#5c946e", "Drama": "#6a4c93",
    "Fantasy": "#9b5de5", "Film-Noir": "#2b2d42", "Horror": "#8d0801", "IMAX": "#00a6fb",
    "Musical": "#f15bb5", "Mystery": "#264653", "Romance": "#e5989b", "Sci-Fi": "#00bbf9",
    "Thriller": "#3a0ca3", "War": "#606c38", "Western": "#bc6c25",
}
DEFAULT_COLOUR = "#4a4e69"
WIDTH, HEIGHT = 200, 300


def _shade(colour: str, factor: float) -> str:
    r, g, b = (int(colour[i: i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, int(c * factor))) for c in (r, g, b)))


def poster_svg(movie: Movie) -> str:
    """A 200x300 SVG poster; the same movie always gets the same picture."""
    digest = hashlib.sha1(f"{movie.id}:{movie.title}".encode()).digest()
    colours = [GENRE_COLOURS.get(g, DEFAULT_COLOUR) for g in movie.genres] or [DEFAULT_COLOUR]
    top = colours[digest[0] % len(colours)]
    bottom = _shade(colours[(digest[0] + 1) % len(colours)], 0.35)
    angle = digest[1] % 360
    circle_x, circle_y, radius = 30 + digest[2] % 140, 40 + digest[3] % 120, 40 + digest[4] % 60
    lines = textwrap.wrap(movie.title, width=16, max_lines=4, placeholder="…") or [movie.title[:16]]
    first_y = 190 - 22 * (len(lines) - 1)
    title = "".join(
        f'<text x="14" y="{first_y + 22 * i}" font-size="19" font-weight="700">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    year = f'<text x="14" y="224" font-size="13" opacity="0.85">{movie.year}</text>' if movie.year else ""
    genres = escape(textwrap.shorten(" · ".join(movie.genres[:3]).upper(), width=30, placeholder="…"))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(movie.label, {chr(34): "&quot;"})}">'
        f'<defs><linearGradient id="g" gradientTransform="rotate({angle} .5 .5)">'
        f'<stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/></linearGradient></defs>'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="url(#g)"/>'
        f'<circle cx="{circle_x}" cy="{circle_y}" r="{radius}" fill="#fff" opacity="0.12"/>'
        f'<rect y="150" width="{WIDTH}" height="{HEIGHT - 150}" fill="#000" opacity="0.35"/>'
        f'<g fill="#fff" font-family="Helvetica, Arial, sans-serif">{title}{year}'
        f'<text x="14" y="282" font-size="10" letter-spacing="1" opacity="0.8">{genres}</text></g>'
        f'<text x="186" y="24" text-anchor="end" font-family="Helvetica, Arial, sans-serif" font-size="12" '
        f'font-weight="800" fill="#e50914">F</text></svg>'
    )
