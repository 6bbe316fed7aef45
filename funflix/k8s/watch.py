"""``funflix k8s watch``: every interval, read the verdict and the guardrails, decide (:mod:`.policy`), act.

The verdict is the always-valid analysis of :mod:`funflix.experiment` over the event store's current
experiment, restricted so that a ramp cannot bias it (:mod:`.ramp`): with sticky routing, the users
whose arm never changed over the experiment's split history; with per-request routing, the
impressions since the last split change (per-step analysis). The guardrails are PromQL ratios
(gateway errors, latency, the website's fallback rows) read from Prometheus when it is given.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from .operations import Deployed, deployed, freeze, set_split
from .policy import FREEZE, RAMP, ROLLBACK, Reading, State, WatchSettings, decide
from .ramp import stable_child, stable_shares, user_point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Guardrail:
    """A PromQL expression that must stay at or below ``maximum`` (Flagger's ``thresholdRange.max``)."""

    name: str
    query: str
    maximum: float


def guardrails(max_error_rate: float = 0.05, max_p99_seconds: float = 1.0,
               max_fallback_share: float = 0.05, window: str = "2m") -> tuple[Guardrail, ...]:
    def ratio(part: str, whole: str) -> str:
        return f"sum(rate({part}[{window}])) / sum(rate({whole}[{window}]))"

    return (
        Guardrail("gateway error rate", ratio('funflix_gateway_requests_total{code=~"5.."}',
                                              "funflix_gateway_requests_total"), max_error_rate),
        Guardrail("gateway p99 latency (s)", f"histogram_quantile(0.99, sum by (le) "
                                             f"(rate(funflix_gateway_request_seconds_bucket[{window}])))",
                  max_p99_seconds),
        Guardrail("website fallback share", ratio("funflix_website_fallback_impressions_total",
                                                  "funflix_website_impressions_total"), max_fallback_share),
    )


def check_guardrails(prometheus_url: str | None, rails: tuple[Guardrail, ...]) -> tuple[bool, str]:
    """(all within bounds, what failed); no Prometheus or no data for a rail is not a failure."""
    if not prometheus_url:
        return True, "guardrails not checked (no --prometheus-url)"
    import requests

    failed = []
    for rail in rails:
        try:
            answer = requests.get(f"{prometheus_url.rstrip('/')}/api/v1/query", params={"query": rail.query},
                                  timeout=10).json()
        except (requests.RequestException, ValueError) as exc:
            failed.append(f"{rail.name}: Prometheus unreadable ({type(exc).__name__})")
            continue
        values = [float(r["value"][1]) for r in answer.get("data", {}).get("result", [])]
        values = [v for v in values if not math.isnan(v)]
        if values and max(values) > rail.maximum:
            failed.append(f"{rail.name} {max(values):.3g} > {rail.maximum:g}")
    return not failed, "; ".join(failed)


def analysed_frame(frame, now: Deployed):
    """The impressions the verdict may use during a ramp, and the arms' expected shares among them."""
    if now.mode == "sticky":
        history = [list(s) for s in now.history]
        stable = frame["user_id"].map(lambda user: stable_child(history, user_point(now.salt, int(user))))
        index = frame["arm"].map({arm: i for i, arm in enumerate(now.arms)})
        shares = stable_shares(history)
        return frame[stable == index], {arm: share for arm, share in zip(now.arms, shares) if share > 0}
    import pandas as pd

    recent = frame[frame["created_at"] >= pd.Timestamp(now.changed_at, unit="s", tz="UTC")]
    return recent, {arm: share for arm, share in now.shares().items() if share > 0}


def read_verdict(db_url: str | None, now: Deployed, control: str, decision_rule: str = "sequential",
                 planned_per_arm: int | None = None) -> tuple[Reading, dict]:
    """The verdict over what :func:`analysed_frame` keeps of the current experiment; and a summary."""
    from funflix.experiment.analysis import AnalysisConfig, analyze
    from funflix.website import store
    from funflix.website.experiments import find_experiment

    try:
        engine = store.open_existing(db_url)
        try:
            with engine.execution_options(readonly=True).connect() as conn:
                record = find_experiment(conn, None)
                frame = store.read_impressions(conn, record.id) if record and record.salt == now.salt else None
        finally:
            engine.dispose()
    except Exception as exc:  # sqlalchemy's errors: an unreachable or wrong store
        if type(exc).__module__.startswith("sqlalchemy"):
            raise ValueError(f"cannot read the event store: {str(exc).splitlines()[0]}") from None
        raise
    if frame is None:
        found = f"salt {record.salt}" if record else "none"
        return Reading("keep running"), {"note": f"the store's current experiment ({found}) is not the one the "
                                                 f"router serves (salt {now.salt}) yet"}
    kept, expected = analysed_frame(frame, now)
    summary = {"experiment": record.id, "impressions": len(frame), "analysed": len(kept), "expected_split": expected}
    if control not in expected or len(expected) < 2 or kept["arm"].nunique() < 2:
        return Reading("keep running"), dict(summary, note="no two arms to compare among the analysed users")
    config = AnalysisConfig(control=control, expected_split=expected, decision_rule=decision_rule,
                            planned_per_arm=planned_per_arm, adaptive_routing=now.mode == "thompson",
                            randomisation_unit="impression" if now.mode == "random" else "user")
    result = analyze(kept, config)
    units = kept.groupby("arm")["user_id"].nunique() if now.mode != "random" else kept.groupby("arm").size()
    reached = planned_per_arm is not None and int(units.min()) >= planned_per_arm
    verdict = result.verdict
    summary.update(arms=[{"arm": a.arm, "impressions": a.impressions, "clicks": a.clicks, "ctr": a.ctr}
                         for a in result.arms], verdict=verdict.to_dict(), srm_p=result.srm.p_value)
    return Reading(verdict.decision, verdict.arm, result.srm.mismatch, decision_rule == "fixed", reached), summary


def watch_once(target, settings: WatchSettings, db_url: str | None, prometheus_url: str | None = None,
               rails: tuple[Guardrail, ...] = guardrails(), decision_rule: str = "sequential",
               planned_per_arm: int | None = None, failed_checks: int = 0, wait: bool = True) -> tuple:
    """One reading and its action: (action, summary)."""
    now = deployed(target, target.read())
    reading, summary = read_verdict(db_url, now, settings.control, decision_rule, planned_per_arm)
    ok, why = check_guardrails(prometheus_url, rails)
    reading = Reading(reading.decision, reading.arm, reading.srm, reading.fixed_horizon, reading.horizon_reached,
                      ok, why)
    state = State(now.shares(), now.changed_at, now.frozen, failed_checks)
    action = decide(settings, state, reading, time.time())
    if action.kind in (RAMP, ROLLBACK):
        set_split(target, tuple(action.split[arm] for arm in now.arms), action.kind, action.reason, wait=wait)
    elif action.kind == FREEZE:
        freeze(target, action.reason)
    context = summary.get("note") or f"{summary.get('analysed', 0)} impressions analysed"
    log.info("%s: %s (%s)", action.kind, action.reason, context)
    return action, dict(summary, guardrails=why or "ok")


def watch(target, settings: WatchSettings, db_url: str | None, prometheus_url: str | None = None,
          rails: tuple[Guardrail, ...] = guardrails(), decision_rule: str = "sequential",
          planned_per_arm: int | None = None, readings: int | None = None, wait: bool = True) -> None:
    """Read and act every ``settings.interval`` seconds (``readings`` times, or until interrupted)."""
    failed, done = 0, 0
    while readings is None or done < readings:
        try:
            action, _ = watch_once(target, settings, db_url, prometheus_url, rails, decision_rule, planned_per_arm,
                                   failed, wait)
            failed = action.failed_checks
        except ValueError as exc:  # an unreachable store or API server: try again next interval
            log.warning("no action this interval: %s", exc)
        done += 1
        if readings is None or done < readings:
            time.sleep(settings.interval)
