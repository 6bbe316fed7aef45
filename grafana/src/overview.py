"""Experiment overview: one big number per arm (counts since the components started)."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import stat

from . import promql
from .common import ALWAYS_VALID_NOTE, Z_ONE_SIDED, default_stat, prometheus_query, thresholds

RESET_NOTE = "Counters since the components started (summed over workers); they restart from 0 when a pod restarts."


def impressions_stat(arms: Sequence[str]) -> stat.Panel:
    panel = (default_stat().title("Impressions").unit("short").decimals(0)
             .description("Recommendation lists whose feedback (click or no click) was credited to the arm. "
                          + RESET_NOTE))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.total(promql.IMPRESSIONS, [arm]), arm))
    return panel


def clicks_stat(arms: Sequence[str]) -> stat.Panel:
    panel = (default_stat().title("Clicks").unit("short").decimals(0)
             .description("Impressions clicked at least once (reward 1), credited once to the serving arm. "
                          + RESET_NOTE))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.total(promql.CLICKS, [arm]), arm))
    return panel


def ctr_stat(arms: Sequence[str]) -> stat.Panel:
    panel = (default_stat().title("CTR").unit("percentunit").decimals(2)
             .description("Clicked impressions / impressions per arm. " + RESET_NOTE))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.ctr(arm), arm))
    return panel


def lift_stat(control: str, challengers: Sequence[str]) -> stat.Panel:
    panel = (default_stat().title(f"Lift vs {control}").unit("percentunit").decimals(1).span(6)
             .description(f"Relative CTR lift of each challenger over {control}: CTR / CTR({control}) - 1.")
             .thresholds(thresholds("red", (0, "green"))))
    for arm in challengers:
        panel = panel.with_target(prometheus_query(promql.lift(arm, control), arm))
    return panel


def z_stat(control: str, challengers: Sequence[str]) -> stat.Panel:
    panel = (default_stat().title(f"z vs {control}").decimals(2).span(6)
             .description(f"Pooled two-proportion z statistic of the cumulative CTRs; above {Z_ONE_SIDED} is the "
                          "one-sided 5 % level of a single, planned look. " + ALWAYS_VALID_NOTE)
             .thresholds(thresholds("text", (Z_ONE_SIDED, "green"))))
    for arm in challengers:
        panel = panel.with_target(prometheus_query(promql.z_statistic(arm, control), arm))
    return panel
