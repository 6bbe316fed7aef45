"""Traffic: impressions and clicks per second, and the split of lists between the arms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafana_foundation_sdk.builders import timeseries

from . import promql
from .common import dashed, default_timeseries, prometheus_query


def impressions_and_clicks(arms: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title("Impressions and clicks per second").unit("reqps").min(0)
             .description("Credited impressions (feedback received, reward 0 or 1) and clicks (reward 1) per arm, "
                          "from the serving components' counters."))
    for arm in arms:
        panel = (panel
                 .with_target(prometheus_query(promql.rate(promql.IMPRESSIONS, [arm], promql.RATE_INTERVAL),
                                               f"{arm} impressions"))
                 .with_target(prometheus_query(promql.rate(promql.CLICKS, [arm], promql.RATE_INTERVAL),
                                               f"{arm} clicks")))
    return panel


def traffic_split(splits: Mapping[str, float], adaptive: bool) -> timeseries.Panel:
    """Each arm's share of the lists served over ``$window``; against its configured split (dashed) unless
    the routing is ``adaptive`` (a bandit moves the split on purpose)."""
    arms = list(splits)
    if adaptive:
        note = ("Adaptive (Thompson) routing moves traffic to the arm that looks better, so the split drifts on "
                "purpose, and a plain A/B comparison of the arms is biased.")
    else:
        note = ("Dashed: the split configured in values.yaml. Sticky routing assigns users, not lists: shares of "
                "lists wander with heavy users; the sample-ratio check on users is on /experiment.")
    panel = (default_timeseries().title("Traffic split ($window window)").unit("percentunit").min(0).max(1)
             .description("Share of recommendation lists served by each arm (predict calls). " + note))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.share(arm, arms, promql.WINDOW), arm))
    if adaptive:
        return panel
    configured = [f"{arm} configured" for arm in arms]
    for arm, name in zip(arms, configured):
        panel = panel.with_target(prometheus_query(f"vector({splits[arm]:g})", name))
    return dashed(panel, configured)
