"""Prometheus metrics of the website (one registry per app, served on ``/metrics``).

Counters are per process. Run the site as one gunicorn worker with threads (the local stack does),
or set ``prometheus_multiproc_dir`` for several workers: ``/metrics`` then aggregates the
processes' files. The outbox backlog is read from the event store at scrape time, so it is exact
whatever the process layout.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

PAGE_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
SELDON_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class WebsiteMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self._extra: list = []
        r = self.registry
        self.impressions = Counter("funflix_website_impressions_total",
                                   "Recommended-for-you rows rendered from the experiment, per arm", ["arm"], registry=r)
        self.fallback_impressions = Counter("funflix_website_fallback_impressions_total",
                                            "Rows rendered from the popularity fallback (in no arm), by reason",
                                            ["reason"], registry=r)
        self.clicks = Counter("funflix_website_clicks_total",
                              "Impressions turned clicked (first click on a row), per arm", ["arm"], registry=r)
        self.unclicked = Counter("funflix_website_unclicked_impressions_total",
                                 "Impressions closed without a click (reward 0 queued), per arm", ["arm"], registry=r)
        self.click_events = Counter("funflix_website_click_events_total",
                                    "Click requests by result (counted, repeat, extra_item, late, refused_<status>)",
                                    ["result"], registry=r)
        self.feedback_posts = Counter("funflix_website_feedback_posts_total",
                                      "Feedback posts to Seldon by arm, reward and outcome (sent, failed, dead: refused for good)",
                                      ["arm", "reward", "outcome"], registry=r)
        self.page_seconds = Histogram("funflix_website_page_render_seconds", "Page render time by page",
                                      ["page"], buckets=PAGE_BUCKETS, registry=r)
        self.seldon_seconds = Histogram("funflix_website_seldon_request_seconds",
                                        "Calls to the Seldon endpoint by call (predict, feedback) and outcome",
                                        ["call", "outcome"], buckets=SELDON_BUCKETS, registry=r)
        self.errors = Counter("funflix_website_errors_total",
                              "Errors by kind (gateway_<kind>, http_<status>, exception)", ["kind"], registry=r)

    def observe_seldon(self, call: str, outcome: str, seconds: float) -> None:
        self.seldon_seconds.labels(call, outcome).observe(seconds)

    def exposition(self) -> bytes:
        multiproc_dir = os.environ.get("prometheus_multiproc_dir")
        if not multiproc_dir:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
        for collector in self._extra:
            registry.register(collector)
        return generate_latest(registry)

    def add_collector(self, collector) -> None:
        """Register a scrape-time collector (kept for the multiprocess registry too)."""
        self.registry.register(collector)
        self._extra.append(collector)


class OutboxCollector:
    """``funflix_website_feedback_outbox{arm, reward, state}``: outbox rows, read at scrape time."""

    def __init__(self, count_rows):
        self._count_rows = count_rows

    def collect(self):
        family = GaugeMetricFamily("funflix_website_feedback_outbox",
                                   "Feedback outbox rows by arm, reward and state (pending, sending, sent, dead)",
                                   labels=["arm", "reward", "state"])
        try:
            counts = self._count_rows()
        except Exception:  # a scrape must not fail because the database is briefly unavailable
            counts = {}
        for (arm, reward, state), n in sorted(counts.items()):
            family.add_metric([arm, str(reward), state], n)
        yield family
