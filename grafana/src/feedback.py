"""Feedback delivery, errors, and the website's fallback impressions.

Rare events are shown as counts over the last ``promql.EVENTS_WINDOW`` (see ``promql.events``), so
the first error of a kind is visible; frequent ones as rates.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import timeseries

from . import promql
from .common import default_timeseries, prometheus_query

PER_WINDOW = f"events in the last {promql.EVENTS_WINDOW}"


def feedback_posts() -> timeseries.Panel:
    return (default_timeseries().title("Feedback posts from the website").unit("reqps").min(0)
            .description("The website's feedback posts to Seldon per second, by arm, reward (1 clicked, 0 not) and "
                         "outcome (sent; failed posts stay in the outbox and are retried).")
            .with_target(prometheus_query(
                promql.service_rate(promql.WEBSITE_FEEDBACK_POSTS, ("arm", "reward", "outcome")),
                "{{arm}} reward={{reward}} {{outcome}}")))


def feedback_not_credited(arms: Sequence[str]) -> timeseries.Panel:
    return (default_timeseries().title(f"Feedback not credited ({PER_WINDOW})").unit("short").min(0)
            .description("Feedback a component received but did not count, by arm and reason: other_arm (feedback "
                         "without routing is broadcast; only the serving arm credits it), duplicate (a replayed "
                         "puid counts once). Many other_arm means routing is missing from served responses.")
            .with_target(prometheus_query(
                promql.events(promql.FEEDBACK_IGNORED, (promql.ARM_LABEL, "reason"), promql.DEPLOYMENT,
                              promql.arms_matcher(arms)),
                "{{model_name}} {{reason}}")))


def feedback_backlog() -> timeseries.Panel:
    return (default_timeseries().title("Feedback outbox backlog").unit("short").min(0).span(8)
            .description("Website outbox rows not yet accepted by Seldon (pending or being sent); 0 when all "
                         "are delivered. A growing backlog means clicks are recorded in the event store but not "
                         "yet counted by the components, so the CTR panels lag. Dead-lettered: rows Seldon "
                         "refused for good (a 4xx), never retried, left out of the analysis; see /experiment.")
            .with_target(prometheus_query(promql.outbox_backlog(), "not yet delivered"))
            .with_target(prometheus_query(promql.outbox_rows(promql.DEAD_LETTERED), "dead-lettered")))


def errors() -> timeseries.Panel:
    return (default_timeseries().title(f"Errors ({PER_WINDOW})").unit("short").min(0).span(8)
            .description("Unified endpoint answers other than 2xx by endpoint and code (the local gateway, or on "
                         "a cluster the Seldon executor); failed calls from the gateway to components (unavailable, "
                         "timeout, failed); website errors by kind.")
            .with_target(prometheus_query(
                promql.events(promql.GATEWAY_REQUESTS, ("endpoint", "code"), promql.FAILED_HTTP),
                "gateway {{endpoint}} {{code}}"))
            .with_target(prometheus_query(
                promql.events(promql.EXECUTOR_REQUESTS, ("service", "code"), promql.DEPLOYMENT,
                              promql.FAILED_HTTP_OR_GRPC),
                "executor {{service}} {{code}}"))
            .with_target(prometheus_query(
                promql.events(promql.GATEWAY_UPSTREAM_ERRORS, ("component", "kind")),
                "upstream {{component}} {{kind}}"))
            .with_target(prometheus_query(promql.events(promql.WEBSITE_ERRORS, ("kind",)), "website {{kind}}")))


def fallback_impressions() -> timeseries.Panel:
    return (default_timeseries().title(f"Fallback impressions ({PER_WINDOW})").unit("short").min(0).span(8)
            .description("Rows the website rendered from its popularity fallback because the unified endpoint "
                         "failed, by reason; they count in no arm. Beside them, the rows of the experiment.")
            .with_target(prometheus_query(promql.events(promql.WEBSITE_FALLBACK_IMPRESSIONS, ("reason",)),
                                          "fallback {{reason}}"))
            .with_target(prometheus_query(promql.events(promql.WEBSITE_IMPRESSIONS, ("arm",)),
                                          "experiment {{arm}}")))
