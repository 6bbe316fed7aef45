"""The feedback ledger's tallies as Prometheus counters, labelled like Seldon's custom metrics.

Served by each model component on its REST port (:data:`~funflix.serving.metric_names.LEDGER_METRICS_PATH`)
and read from the ledger at scrape time, so they equal the credited feedback exactly. They are the arm's
totals, the same on every replica sharing the ledger: aggregate them with ``max by (model_name)``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from seldon_core.metrics import DEFAULT_LABELS

from funflix.serving import metric_names
from funflix.serving.feedback_ledger import (CLICKS, DUPLICATE, IMPRESSIONS, OTHER_ARM, OUTCOMES, TEAM_CLICKS,
                                             TEAM_IMPRESSIONS)


class LedgerCollector:
    """``funflix_impressions_total``, ``funflix_clicks_total``, ``funflix_feedback_ignored_total{reason}``, and
    the interleaving team's ``funflix_team_impressions_total``, ``funflix_team_clicks_total`` and
    ``funflix_team_outcomes_total{outcome}`` (0 under the A/B design)."""

    def __init__(self, counts: dict[str, int], arm: str):
        self._counts = counts
        self._labels = {**DEFAULT_LABELS, "arm": arm}

    def collect(self):
        keys, values = list(self._labels), list(self._labels.values())
        for name, documentation, tally in (
                (metric_names.IMPRESSIONS, "Lists whose feedback was credited to the arm", IMPRESSIONS),
                (metric_names.CLICKS, "Credited feedback with reward 1", CLICKS),
                (metric_names.TEAM_IMPRESSIONS, "Interleaved lists whose feedback was credited to the team",
                 TEAM_IMPRESSIONS),
                (metric_names.TEAM_CLICKS, "Clicks on items the team drafted", TEAM_CLICKS)):
            family = CounterMetricFamily(name, documentation, labels=keys)
            family.add_metric(values, self._counts[tally])
            yield family
        ignored = CounterMetricFamily(metric_names.FEEDBACK_IGNORED, "Feedback not credited, by reason",
                                      labels=[*keys, "reason"])
        for reason in (DUPLICATE, OTHER_ARM):
            ignored.add_metric([*values, reason], self._counts[reason])
        yield ignored
        outcomes = CounterMetricFamily(metric_names.TEAM_OUTCOMES, "Interleaved lists by outcome for the team",
                                       labels=[*keys, "outcome"])
        for outcome in OUTCOMES:
            outcomes.add_metric([*values, outcome], self._counts[outcome])
        yield outcomes


def ledger_exposition(counts: dict[str, int], arm: str) -> bytes:
    """Prometheus text of the arm's tallies (:meth:`FeedbackLedger.arm_counts`)."""
    registry = CollectorRegistry()
    registry.register(LedgerCollector(counts, arm))
    return generate_latest(registry)
