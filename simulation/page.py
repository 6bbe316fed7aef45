"""Read the website's pages as a bot does: by the stable ``data-*`` attributes the site documents.

The home page's "Recommended for you" row is ``<section data-testid="rec-row" data-impression-id
data-arm data-fallback ...>``; each of its items is ``<a data-testid="rec-item" data-movie-id
data-position href="/click/<token>/<id>">``. Other movie links are ``data-testid="movie-card"``.
"""

from __future__ import annotations

import html
import re

from funflix.simulation.sessions import Row, SessionError

_TAG = re.compile(r"<(?:section|a)\b[^>]*>", re.S)
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def _tags(page: str, testid: str) -> list[dict[str, str]]:
    marker = f'data-testid="{testid}"'
    return [{name: html.unescape(value) for name, value in _ATTRIBUTE.findall(tag)}
            for tag in _TAG.findall(page) if marker in tag]


def parse_rec_row(page: str) -> Row:
    """The recommendation row of a home page; ``SessionError("home:no_row")`` if the page has none."""
    sections = _tags(page, "rec-row")
    if len(sections) != 1:
        raise SessionError("home:no_row", f"expected one rec-row on the home page, found {len(sections)}")
    section = sections[0]
    links = sorted(_tags(page, "rec-item"), key=lambda a: int(a["data-position"]))
    if not links:
        raise SessionError("home:empty_row", "the rec-row has no items")
    fallback = section.get("data-fallback") == "true"
    return Row(impression_id=section["data-impression-id"], arm=None if fallback else (section.get("data-arm") or None),
               items=[int(a["data-movie-id"]) for a in links], hrefs=[a["href"] for a in links],
               model_version=section.get("data-model-version", ""), strategy=section.get("data-strategy", ""))


def movie_links(page: str) -> list[str]:
    """Hrefs of the page's untracked movie links (popular, genre, "More like this" rows)."""
    return [a["href"] for a in _tags(page, "movie-card") if "href" in a]
