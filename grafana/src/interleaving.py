"""Interleaving panels (shown when ``experiment.design`` is ``interleaving``): team clicks and the
challenger's outcome per impression, from the arms' ledger team counters."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import timeseries

from . import promql
from .common import default_timeseries, prometheus_query, threshold_lines, thresholds


def team_clicks(arms: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title("Interleaving: clicks per team (cumulative)").unit("short").min(0)
             .description("Clicks on the items each team drafted into the merged lists, credited once per impression "
                          "by the team's own component."))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.total(promql.TEAM_CLICKS, [arm]), arm))
    return panel


def outcomes(challenger: str) -> timeseries.Panel:
    return (default_timeseries().title(f"Interleaving: {challenger} outcome per impression").unit("short").min(0)
            .description(f"Interleaved impressions by outcome for {challenger}: win (its team got the click), loss, "
                         "tie, no_click. The unit of the test is the user: see /experiment.")
            .with_target(prometheus_query(promql.outcomes(challenger), "{{outcome}}")))


def win_share(challenger: str) -> timeseries.Panel:
    return (default_timeseries().title(f"Interleaving: {challenger} share of decided impressions").unit("percentunit")
            .min(0).max(1)
            .description("wins / (wins + losses), cumulative and over the window: above 50% the challenger's items "
                         "draw more clicks. Watched live this is not a stopping rule: the always-valid preference "
                         "test is on /experiment and in `funflix analyze`.")
            .thresholds(thresholds("red", (0.5, "green"))).thresholds_style(threshold_lines())
            .with_target(prometheus_query(promql.win_share(challenger), "cumulative"))
            .with_target(prometheus_query(promql.win_share(challenger, promql.WINDOW), "$window window")))
