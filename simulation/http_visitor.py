"""Simulated users visiting the website over plain HTTP: the same pages, events and feedback as a browser.

A visit signs in (``POST /signin``, following the redirect to the home page: one impression), reads
the "Recommended for you" row by its data-* attributes, lets the click model decide, follows the
row's tracked click link (which redirects to the movie page) or maybe opens another movie, and signs
out (``POST /signout``), which closes an unclicked impression with reward 0 as the site designs.
"""

from __future__ import annotations

import time
from urllib.parse import urljoin

import requests

from funflix.simulation.click_model import ClickModel
from funflix.simulation.page import movie_links, parse_rec_row
from funflix.simulation.runner import Visitor
from funflix.simulation.sessions import SessionError, SessionOutcome, SessionPlan, decide_click

USER_AGENT = "funflix-simulator/1 (http)"


class HttpVisitor(Visitor):
    """Runs visits against ``site_url``; one :class:`requests.Session` (cookie jar) per visit.

    ``browse_probability`` is the chance that a user who did not click opens a movie from another row
    (0 by default: the volume mode spends the site's CPU on impressions).
    """

    def __init__(self, site_url: str, model: ClickModel, browse_probability: float = 0.0, timeout: float = 10.0):
        if not 0 <= browse_probability <= 1:
            raise ValueError(f"browse_probability must be in [0, 1], got {browse_probability}")
        self.site_url = site_url.rstrip("/") + "/"
        self.model = model
        self.browse_probability = browse_probability
        self.timeout = timeout

    def _request(self, http: requests.Session, method: str, path: str, stage: str, **options) -> requests.Response:
        try:
            response = http.request(method, urljoin(self.site_url, path), timeout=self.timeout, **options)
        except requests.RequestException as exc:
            raise SessionError(f"{stage}:{exc.__class__.__name__}", str(exc)) from exc
        expected = (302, 303) if options.get("allow_redirects") is False else (200,)
        if response.status_code not in expected:
            raise SessionError(f"{stage}:http_{response.status_code}",
                               f"{method} {response.url} answered {response.status_code}: {response.text[:200]}")
        return response

    def visit(self, plan: SessionPlan) -> SessionOutcome:
        """One visit by ``plan.user_id``; errors are reported in the outcome, never raised."""
        start = time.perf_counter()
        row, clicked, expected, pages, error, message = None, None, float("nan"), 0, None, None
        with requests.Session() as http:
            http.headers["User-Agent"] = USER_AGENT
            signed_in = False
            try:
                home = self._request(http, "POST", "signin", "home", data={"user_id": str(plan.user_id)})
                pages, signed_in = 1, True
                row = parse_rec_row(home.text)
                position, expected = decide_click(self.model, plan, row)
                if position is not None:
                    movie = self._request(http, "GET", row.hrefs[position], "click")
                    pages += 1
                    if f"/movie/{row.items[position]}" not in movie.url:
                        raise SessionError("click:redirect", f"the click link led to {movie.url}")
                    clicked = position
                elif plan.rng.random() < self.browse_probability:
                    links = movie_links(home.text)
                    if links:
                        self._request(http, "GET", links[int(plan.rng.integers(len(links)))], "browse")
                        pages += 1
            except SessionError as exc:
                error, message = exc.kind, str(exc)
            if signed_in:
                try:
                    self._request(http, "POST", "signout", "signout", allow_redirects=False)
                    pages += 1
                except SessionError as exc:
                    error, message = error or exc.kind, message or str(exc)
        return SessionOutcome(plan.index, plan.user_id, row=row, clicked=clicked, expected_ctr=expected, pages=pages,
                              error=error, message=message, seconds=time.perf_counter() - start)
