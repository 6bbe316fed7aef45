"""Latency p50/p99: the arms' top-k timer, the gateway (or Seldon executor), the website."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import timeseries

from . import promql
from .common import default_timeseries, prometheus_query

QUANTILES = (0.5, 0.99)


def _label(q: float) -> str:
    return f"p{q * 100:g}"


def model_latency(arms: Sequence[str]) -> timeseries.Panel:
    panel = (default_timeseries().title("Top-k latency per arm (model component)").unit("s").min(0)
             .description("The recommender's top-k computation inside each arm's component "
                          f"(Seldon TIMER {promql.PREDICT_SECONDS}); excludes HTTP and routing. Seldon's timer "
                          "buckets start at 1 ms: below that, p50/p99 are interpolated inside the first bucket, "
                          "and the mean is the figure to read."))
    for arm in arms:
        panel = panel.with_target(prometheus_query(promql.arm_mean_seconds(arm), f"{arm} mean"))
        for q in QUANTILES:
            panel = panel.with_target(prometheus_query(promql.arm_quantile(q, arm), f"{arm} {_label(q)}"))
    return panel


def gateway_latency() -> timeseries.Panel:
    panel = (default_timeseries().title("Unified endpoint latency").unit("s").min(0)
             .description("Requests to the unified endpoint through router and model: the local gateway "
                          f"({promql.GATEWAY_SECONDS}) by endpoint, or on a cluster the Seldon executor "
                          f"({promql.EXECUTOR_SECONDS})."))
    for q in QUANTILES:
        panel = panel.with_target(prometheus_query(promql.quantile(q, promql.GATEWAY_SECONDS, ("endpoint",)),
                                                   f"{{{{endpoint}}}} {_label(q)}"))
    for q in QUANTILES:
        panel = panel.with_target(prometheus_query(
            promql.quantile(q, promql.EXECUTOR_SECONDS, ("service",), promql.DEPLOYMENT),
            f"executor {{{{service}}}} {_label(q)}"))
    return panel


def website_latency() -> timeseries.Panel:
    panel = (default_timeseries().title("Website latency").unit("s").min(0)
             .description("Page renders by page (health checks excluded), and the website's calls to the Seldon "
                          "endpoint by call (predict, feedback)."))
    for q in QUANTILES:
        panel = panel.with_target(prometheus_query(
            promql.quantile(q, promql.WEBSITE_PAGE_SECONDS, ("page",), promql.NOT_OPS_PAGES),
            f"page {{{{page}}}} {_label(q)}"))
    for q in QUANTILES:
        panel = panel.with_target(prometheus_query(
            promql.quantile(q, promql.WEBSITE_SELDON_SECONDS, ("call",)), f"seldon {{{{call}}}} {_label(q)}"))
    return panel
