"""Click-through rate per arm over time: windowed, cumulative, lift and significance."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import timeseries

from . import promql
from .common import (ALWAYS_VALID_NOTE, Z_ONE_SIDED, Z_TWO_SIDED, default_timeseries, prometheus_query,
                     threshold_lines, thresholds)


def windowed_ctr(arms: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title("CTR per arm ($window window)").unit("percentunit").min(0)
             .description("increase(clicks) / increase(impressions) per arm over the window chosen above: "
                          "what each arm does now. Short windows are noisy at low traffic."))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.ctr(arm, promql.WINDOW), arm))
    return panel


def cumulative_ctr(arms: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title("Cumulative CTR per arm").unit("percentunit").min(0)
             .description("Clicks / impressions since the components started: the curves settle as evidence "
                          "accumulates. The website's /experiment page draws the same from the event store."))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.ctr(arm), arm))
    return panel


def lift(control: str, challengers: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title(f"Lift vs {control} (cumulative)").unit("percentunit")
             .description(f"CTR(challenger) / CTR({control}) - 1 on cumulative counts. "
                          "Its confidence interval is on the /experiment page.")
             .thresholds(thresholds("red", (0, "green")))
             .thresholds_style(threshold_lines()))
    for arm in challengers:
        panel = panel.with_target(prometheus_query(promql.lift(arm, control), arm))
    return panel


def significance(control: str, challengers: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title(f"Significance: z vs {control} (fixed-horizon)")
             .description(f"Pooled two-proportion z of each challenger's cumulative CTR against {control}, computed "
                          f"in PromQL from the components' counters. Lines: {Z_ONE_SIDED} (one-sided 5 %) and "
                          f"±{Z_TWO_SIDED} (two-sided 5 %). " + ALWAYS_VALID_NOTE)
             .thresholds(thresholds("red", (-Z_TWO_SIDED, "text"), (Z_ONE_SIDED, "yellow"), (Z_TWO_SIDED, "green")))
             .thresholds_style(threshold_lines()))
    for arm in challengers:
        panel = panel.with_target(prometheus_query(promql.z_statistic(arm, control), arm))
    return panel

