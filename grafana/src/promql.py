"""Every PromQL expression of the dashboard, built here from one selector helper.

Seldon's Python wrapper labels each custom metric of a component with ``model_name`` (the graph
node: the arm), ``deployment_name``, ``predictor_name``, ``worker_id`` (one per gunicorn worker) and
``method`` (the same counter has a ``predict`` and a ``feedback`` series). The impression, click and
ignored-feedback counters come from each arm's feedback ledger instead (same names and Seldon labels,
one series per replica). Component expressions therefore always sum, ``by (model_name)`` when a
series per arm is wanted.

Panels read three Grafana variables: ``$deployment`` (the SeldonDeployment), ``$window`` (the
analysis window of CTR and split) and Grafana's ``$__rate_interval``.
"""

from __future__ import annotations

from collections.abc import Sequence

from funflix.serving import metric_names

ARM_LABEL = "model_name"
DEPLOYMENT = 'deployment_name=~"$deployment"'
WINDOW = "$window"
RATE_INTERVAL = "$__rate_interval"
EVENTS_WINDOW = "5m"  # rare events (errors, fallbacks, uncredited feedback) are counted over this window

# serving components (a Seldon COUNTER ``key`` is exposed as ``<key>_total``, a TIMER as a histogram)
RECOMMENDATIONS = f"{metric_names.RECOMMENDATIONS}_total"
IMPRESSIONS = f"{metric_names.IMPRESSIONS}_total"
CLICKS = f"{metric_names.CLICKS}_total"
FEEDBACK_IGNORED = f"{metric_names.FEEDBACK_IGNORED}_total"
TEAM_IMPRESSIONS = f"{metric_names.TEAM_IMPRESSIONS}_total"  # interleaving: each arm's ledger credits its team
TEAM_CLICKS = f"{metric_names.TEAM_CLICKS}_total"
TEAM_OUTCOMES = f"{metric_names.TEAM_OUTCOMES}_total"
PREDICT_SECONDS = metric_names.PREDICT_LATENCY
# the local gateway, and the Seldon executor that takes its place on a cluster
GATEWAY_REQUESTS = f"{metric_names.GATEWAY_REQUESTS}_total"
GATEWAY_SECONDS = metric_names.GATEWAY_LATENCY
GATEWAY_UPSTREAM_ERRORS = f"{metric_names.GATEWAY_UPSTREAM_ERRORS}_total"
EXECUTOR_SECONDS = "seldon_api_executor_server_requests_seconds"  # labels: service, method, code (HTTP or gRPC)
EXECUTOR_REQUESTS = f"{EXECUTOR_SECONDS}_count"
# the website (funflix.website.metrics)
WEBSITE_IMPRESSIONS = "funflix_website_impressions_total"
WEBSITE_FALLBACK_IMPRESSIONS = "funflix_website_fallback_impressions_total"
WEBSITE_FEEDBACK_POSTS = "funflix_website_feedback_posts_total"
WEBSITE_FEEDBACK_OUTBOX = "funflix_website_feedback_outbox"
WEBSITE_PAGE_SECONDS = "funflix_website_page_render_seconds"
WEBSITE_SELDON_SECONDS = "funflix_website_seldon_request_seconds"
WEBSITE_ERRORS = "funflix_website_errors_total"
NOT_OPS_PAGES = 'page!~"ops[.].*"'  # health checks and /metrics are not pages users see
UNSENT = 'state=~"pending|sending"'
DEAD_LETTERED = 'state="dead"'  # refused by Seldon for good: never retried, in no arm's counters
FAILED_HTTP = 'code!~"2.."'
FAILED_HTTP_OR_GRPC = 'code!~"2..|OK"'


def selector(metric: str, *matchers: str) -> str:
    """``metric{matcher, ...}``; matchers are PromQL label matchers like ``code!~"2.."``."""
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def arms_matcher(arms: Sequence[str]) -> str:
    if not arms:
        raise ValueError("at least one arm is needed")
    return f'{ARM_LABEL}="{arms[0]}"' if len(arms) == 1 else f'{ARM_LABEL}=~"{"|".join(arms)}"'


def component(metric: str, arms: Sequence[str], *matchers: str) -> str:
    """A serving component's series of ``arms`` in the selected deployment."""
    return selector(metric, DEPLOYMENT, arms_matcher(arms), *matchers)


def _sum(inner: str, by: Sequence[str] = ()) -> str:
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


# The arms' ledger totals: every replica of an arm reports the same values (serving/ledger_metrics.py).
LEDGER_COUNTERS = (IMPRESSIONS, CLICKS, FEEDBACK_IGNORED, TEAM_IMPRESSIONS, TEAM_CLICKS, TEAM_OUTCOMES)


def _aggregate(metric: str, inner: str, by: Sequence[str]) -> str:
    """``by`` the labels: a ledger counter's replicas are one value taken once (``max``; ``by`` must hold
    the arm label), a per-process counter's replicas are added."""
    return f"max by ({', '.join(by)}) ({inner})" if metric in LEDGER_COUNTERS else _sum(inner, by)


def _per_arm(metric: str, inner: str, by_arm: bool) -> str:
    """Per arm, or pooled over the arms."""
    if by_arm:
        return _aggregate(metric, inner, (ARM_LABEL,))
    return f"sum({_aggregate(metric, inner, (ARM_LABEL,))})" if metric in LEDGER_COUNTERS else _sum(inner)


def total(metric: str, arms: Sequence[str], by_arm: bool = True) -> str:
    """A counter's value since the components started, per arm (or pooled over ``arms``)."""
    return _per_arm(metric, component(metric, arms), by_arm)


def rate(metric: str, arms: Sequence[str], window: str, by_arm: bool = True) -> str:
    """A component counter's per-second rate over ``window``, per arm (or pooled over ``arms``)."""
    return _per_arm(metric, f"rate({component(metric, arms)}[{window}])", by_arm)


def service_rate(metric: str, by: Sequence[str]) -> str:
    """Rate of a gateway or website counter over ``$__rate_interval``, summed ``by`` the given labels."""
    return _sum(f"rate({metric}[{RATE_INTERVAL}])", by)


def events(metric: str, by: Sequence[str], *matchers: str) -> str:
    """How many times a counter of rare events moved in the last ``EVENTS_WINDOW``, summed ``by`` labels.

    ``increase()`` needs two samples of a series, so the first error of a kind (a series born with
    value 1) would never show. A series absent ``window`` ago started at 0 inside the window: its whole
    value counts. (Right after Prometheus itself starts, every series counts whole.)
    """
    series, window = selector(metric, *matchers), EVENTS_WINDOW
    return _aggregate(metric, f"(increase({series}[{window}]) and {series} offset {window}) or {series}", by)


def outbox_rows(state: str) -> str:
    """Website outbox rows in ``state`` (a matcher): 0, not empty, while the website is scraped and none is."""
    return f"sum({selector(WEBSITE_FEEDBACK_OUTBOX, state)}) or 0 * sum({WEBSITE_FEEDBACK_OUTBOX})"


def outbox_backlog() -> str:
    """Website outbox rows not yet sent and still to be tried (pending or being sent)."""
    return outbox_rows(UNSENT)


def ctr(arm: str, window: str | None = None) -> str:
    """Clicked impressions / impressions of one arm: over ``window``, or since the start (exact)."""
    if window is None:
        return f"{total(CLICKS, [arm])} / {total(IMPRESSIONS, [arm])}"
    return f"{rate(CLICKS, [arm], window)} / {rate(IMPRESSIONS, [arm], window)}"


def lift(challenger: str, control: str) -> str:
    """Relative lift of the challenger's cumulative CTR over the control's (0.1 = +10 %)."""
    return f"{ctr(challenger)} / scalar({ctr(control)}) - 1"


def z_statistic(challenger: str, control: str) -> str:
    """Pooled two-proportion z of the cumulative CTRs (challenger minus control), as in
    ``funflix.experiment.frequentist.TwoProportionZTest`` and statsmodels' ``proportions_ztest``."""
    pair = [control, challenger]
    pooled = f"({total(CLICKS, pair, by_arm=False)} / {total(IMPRESSIONS, pair, by_arm=False)})"
    inverse_n = " + ".join(f"1 / {total(IMPRESSIONS, [arm], by_arm=False)}" for arm in pair)
    return (f"({ctr(challenger)} - scalar({ctr(control)}))\n"
            f"/ scalar(sqrt({pooled} * (1 - {pooled}) * ({inverse_n})))")


def share(arm: str, arms: Sequence[str], window: str) -> str:
    """The arm's share of the lists served (predict calls) by all ``arms`` over ``window``."""
    return (f"{rate(RECOMMENDATIONS, [arm], window)}\n"
            f"/ scalar({rate(RECOMMENDATIONS, arms, window, by_arm=False)})")


def quantile(q: float, histogram: str, by: Sequence[str], *matchers: str) -> str:
    """``histogram_quantile`` of a histogram's ``_bucket`` series over ``$__rate_interval``, per ``by`` labels."""
    buckets = selector(f"{histogram}_bucket", *matchers)
    # ">= 0" drops the NaN of label sets without requests in the window (a gap rather than a NaN series)
    return f"histogram_quantile({q:g}, {_sum(f'rate({buckets}[{RATE_INTERVAL}])', ('le', *by))}) >= 0"


def arm_mean_seconds(arm: str) -> str:
    """Mean of one arm's top-k timer over ``$__rate_interval`` (exact, unlike quantiles: no buckets)."""
    seconds, count = (component(f"{PREDICT_SECONDS}_{part}", [arm]) for part in ("sum", "count"))
    return (f"{_sum(f'rate({seconds}[{RATE_INTERVAL}])', (ARM_LABEL,))}\n"
            f"/ {_sum(f'rate({count}[{RATE_INTERVAL}])', (ARM_LABEL,))}")


def arm_quantile(q: float, arm: str) -> str:
    """Quantile of one arm's top-k timer (Seldon TIMER, in seconds)."""
    return quantile(q, PREDICT_SECONDS, (ARM_LABEL,), DEPLOYMENT, arms_matcher([arm]))


# interleaving (experiment.design: interleaving): each arm's ledger credits its own team


def outcomes(challenger: str) -> str:
    """The challenger's interleaved impressions by outcome (win, loss, tie, no_click) since the start."""
    return _aggregate(TEAM_OUTCOMES, component(TEAM_OUTCOMES, [challenger]), (ARM_LABEL, "outcome"))


def win_share(challenger: str, window: str | None = None) -> str:
    """Challenger wins / (wins + losses) over its interleaved impressions: since the start, or over ``window``."""
    wins, losses = (component(TEAM_OUTCOMES, [challenger], f'outcome="{o}"') for o in ("win", "loss"))
    if window is not None:
        wins, losses = f"rate({wins}[{window}])", f"rate({losses}[{window}])"
    wins, losses = (_aggregate(TEAM_OUTCOMES, series, (ARM_LABEL,)) for series in (wins, losses))
    return f"{wins} / ({wins} + {losses})"
