"""Feedback delivery, errors, and the website's fallback impressions."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import timeseries

from . import promql
from .common import default_timeseries, prometheus_query


def feedback_outcomes(arms: Sequence[str]) -> timeseries.Panel:
    return (default_timeseries().title("Feedback outcomes").unit("reqps").min(0)
            .description("Website feedback posts to Seldon by arm, reward and outcome (sent, failed: retried "
                         "from the outbox); feedback the components did not credit, by reason (other_arm: a "
                         "broadcast reached the arm that did not serve the list; duplicate: a replayed puid).")
            .with_target(prometheus_query(
                promql.service_rate(promql.WEBSITE_FEEDBACK_POSTS, ("arm", "reward", "outcome")),
                "website {{arm}} reward={{reward}} {{outcome}}"))
            .with_target(prometheus_query(
                promql.rate(promql.FEEDBACK_IGNORED, arms, promql.RATE_INTERVAL, by=("reason",)),
                "{{model_name}} ignored: {{reason}}")))


def feedback_backlog() -> timeseries.Panel:
    return (default_timeseries().title("Feedback outbox backlog").unit("short").min(0)
            .description("Website outbox rows not yet accepted by Seldon (pending or being sent); 0 when all "
                         "are delivered. A growing backlog means clicks are recorded in the event store but not "
                         "yet counted by the components, so the CTR panels lag.")
            .with_target(prometheus_query(promql.outbox_backlog(), "not yet delivered")))


def errors() -> timeseries.Panel:
    return (default_timeseries().title("Errors").unit("reqps").min(0)
            .description("Unified endpoint answers other than 2xx by endpoint and code; failed calls from the "
                         "gateway to components (unavailable, timeout, failed); website errors by kind.")
            .with_target(prometheus_query(
                promql.service_rate(promql.GATEWAY_REQUESTS, ("endpoint", "code"), 'code!~"2.."'),
                "gateway {{endpoint}} {{code}}"))
            .with_target(prometheus_query(
                promql.service_rate(promql.GATEWAY_UPSTREAM_ERRORS, ("component", "kind")),
                "upstream {{component}} {{kind}}"))
            .with_target(prometheus_query(promql.service_rate(promql.WEBSITE_ERRORS, ("kind",)),
                                          "website {{kind}}")))


def fallback_impressions() -> timeseries.Panel:
    return (default_timeseries().title("Fallback impressions (website)").unit("reqps").min(0)
            .description("Rows the website rendered from its popularity fallback because the unified endpoint "
                         "failed, by reason. They count in no arm; next to them, the experiment's rows.")
            .with_target(prometheus_query(promql.service_rate(promql.WEBSITE_FALLBACK_IMPRESSIONS, ("reason",)),
                                          "fallback {{reason}}"))
            .with_target(prometheus_query(promql.service_rate(promql.WEBSITE_IMPRESSIONS, ("arm",)),
                                          "experiment {{arm}}")))
