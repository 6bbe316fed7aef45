"""Every panel's PromQL, run by the real Prometheus that scraped the real local stack.

One scenario per module: the local stack (router, both arms as ``seldon-core-microservice``, the
gateway, the website, Prometheus) over quick models; traffic with known counts through the gateway
and the website; then each query of the rendered dashboard goes to ``/api/v1/query``.

Counts are checked exactly: plain counter ratios (cumulative panels), and the windowed panels over a
window whose both ends are scrapes of that arm's target (Prometheus then extrapolates nothing, so
``rate * window`` is the exact increase). Each arm runs one gunicorn worker so that every counter
series exists before the measured window opens (a series born inside a window loses its first
value to ``rate``, by Prometheus's design).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from statsmodels.stats.proportion import proportions_ztest

from funflix.serving.processes import free_port_block
from funflix.serving.stack import LocalStack

from .conftest import load_builder, substitute, targets_of

pytestmark = pytest.mark.slow

BUILDER = load_builder()
TARGETS = targets_of(json.loads(BUILDER.render()))
ARMS = BUILDER.load_experiment().arm_names
MEASURED = {"control": (10, 2), "challenger": (10, 5)}  # impressions, clicks sent per arm in the measured phase
BROADCAST_ARM = "control"  # one more impression (reward 0) sent without routing: the other arm ignores it
GENERIC_WINDOW = "5m"  # covers the whole scenario
WEBSITE_MEMBERS = (1, 2)  # MovieLens members signing in on the website (warm-up, then during the outage)


class Prometheus:
    def __init__(self, url: str, http: requests.Session):
        self.url, self.http = url, http

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        body = self.http.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", f"{expr}\n{body.get('errorType')}: {body.get('error')}"
        return body["data"]["result"]

    def scrape_after(self, selector: str, after: float, timeout: float = 30.0) -> float:
        """Timestamp of the first scrape of ``selector``'s target that started after ``after`` (once stored)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for series in self.query(f"{selector}[1m]"):
                later = [float(t) for t, _ in series["values"] if float(t) > after]
                if later:
                    return min(later)
            time.sleep(0.5)
        raise AssertionError(f"Prometheus did not scrape {selector} after {after}")


@dataclass
class Observed:
    """What the scenario sent, and when the arms' targets were scraped around the measured phase."""

    prometheus: Prometheus
    deployment: str
    totals: dict[str, list[int]] = field(default_factory=lambda: {arm: [0, 0] for arm in ARMS})  # impressions, clicks
    measured: dict[str, list[int]] = field(default_factory=lambda: {arm: [0, 0] for arm in ARMS})
    window: dict[str, tuple[float, float]] = field(default_factory=dict)  # arm -> (first, last scrape)
    website_arm: str = ""
    at: float | None = None  # when every query is evaluated unless told otherwise: after the whole scenario

    def run(self, expr: str, at: float | None = None, window: str = GENERIC_WINDOW) -> list[dict]:
        query = substitute(expr, window=window, rate_interval=GENERIC_WINDOW, deployment=self.deployment)
        return self.prometheus.query(query, at or self.at)


def _predict(http, stack, user_id: int) -> dict:
    answer = http.post(f"{stack.gateway_url}/api/v1.0/predictions", json={"jsonData": {"user_id": user_id, "k": 5}},
                       timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _feedback(http, stack, response: dict, reward: int) -> dict:
    request = {"jsonData": {"user_id": response["jsonData"]["user_id"], "k": 5}}
    answer = http.post(f"{stack.gateway_url}/api/v1.0/feedback",
                       json={"request": request, "response": response, "reward": reward}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["jsonData"]


def _website_sent(stack) -> float:
    text = requests.get(f"{stack.website_url}/metrics", timeout=5).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "funflix_website_feedback_posts_total" and s.labels["outcome"] == "sent")


def _website_visit(stack, member: int, click: bool) -> str:
    """Sign in, render the home page (an impression), maybe click; return the home page."""
    with requests.Session() as browser:
        signed = browser.post(f"{stack.website_url}/signin", data={"user_id": str(member)}, allow_redirects=False)
        assert signed.status_code == 302, signed.text[:300]
        home = browser.get(f"{stack.website_url}/", timeout=10)
        assert home.status_code == 200
        if click:
            link = re.search(r'href="(/click/[^"]+)"', home.text).group(1)
            assert browser.get(f"{stack.website_url}{link}", timeout=10).status_code == 200
            assert browser.get(f"{stack.website_url}/", timeout=10).status_code == 200  # a second row
            assert browser.post(f"{stack.website_url}/signout", allow_redirects=False).status_code == 302
        return home.text


class Users:
    """Users of each arm (routing is sticky by user): ``serve(arm)`` gets a fresh list from that arm."""

    def __init__(self, http, stack, per_arm: int):
        self.http, self.stack = http, stack
        self.users: dict[str, list[int]] = {arm: [] for arm in ARMS}
        for user_id in range(1, 500):
            self.users[_predict(http, stack, user_id)["meta"]["tags"]["arm"]].append(user_id)
            if all(len(found) >= per_arm for found in self.users.values()):
                return
        raise AssertionError(f"fewer than {per_arm} users per arm: {self.users}")

    def serve(self, arm: str) -> dict:
        user_id = self.users[arm].pop()
        response = _predict(self.http, self.stack, user_id)
        assert response["meta"]["tags"]["arm"] == arm, "sticky routing moved a user"
        return response


def _website_session(stack, counts: dict[str, list[int]]) -> str:
    """A member's clicked visit (two rows: one clicked, one closed at sign-out); wait until both feedbacks
    reached Seldon; return the serving arm."""
    sent = _website_sent(stack)
    arm = re.search(r'data-arm="([^"]*)"', _website_visit(stack, WEBSITE_MEMBERS[0], click=True)).group(1)
    counts[arm][0] += 2
    counts[arm][1] += 1
    deadline = time.monotonic() + 30
    while _website_sent(stack) < sent + 2:
        assert time.monotonic() < deadline, "the website did not deliver its two feedbacks"
        time.sleep(0.2)
    return arm


def _warm_up(http, stack, observed: Observed, users: Users) -> None:
    """Create every counter series before measuring: reward 1 and 0 and a duplicate per arm, the website."""
    for arm in ARMS:
        served = users.serve(arm)
        for response, reward in ((served, 1), (users.serve(arm), 0)):
            assert _feedback(http, stack, response, reward)["credited"]
            observed.totals[arm][0] += 1
            observed.totals[arm][1] += reward
        assert _feedback(http, stack, served, 1)["outcome"] == "duplicate"
    observed.website_arm = _website_session(stack, observed.totals)


def _measured_phase(http, stack, observed: Observed, users: Users) -> None:
    for arm, (impressions, clicks) in MEASURED.items():
        served = [users.serve(arm) for _ in range(impressions)]
        for i, response in enumerate(served):
            assert _feedback(http, stack, response, int(i < clicks))["credited"]
        assert _feedback(http, stack, served[0], 1)["outcome"] == "duplicate"
        observed.measured[arm] = [impressions, clicks]
    unrouted = users.serve(BROADCAST_ARM)
    del unrouted["meta"]["routing"]
    assert _feedback(http, stack, unrouted, 0)["credited"]  # reaches every arm; the serving one credits it
    observed.measured[BROADCAST_ARM][0] += 1
    bad = http.post(f"{stack.gateway_url}/api/v1.0/predictions", json={"jsonData": {"user_id": "nobody"}}, timeout=10)
    assert bad.status_code == 400
    assert _website_session(stack, observed.measured) == observed.website_arm  # sticky
    for arm in ARMS:
        observed.totals[arm][0] += observed.measured[arm][0]
        observed.totals[arm][1] += observed.measured[arm][1]


def _outage(http, stack) -> None:
    """The router dies: the gateway answers 503, the website renders its fallback row."""
    stack.kill("ab-router")
    down = http.post(f"{stack.gateway_url}/api/v1.0/predictions", json={"jsonData": {"user_id": 1}}, timeout=10)
    assert down.status_code == 503
    assert 'data-fallback="true"' in _website_visit(stack, WEBSITE_MEMBERS[1], click=False)


@pytest.fixture(scope="module")
def observed(tmp_path_factory, quick_models_root):
    ports = free_port_block(8)
    stack = LocalStack(home=tmp_path_factory.mktemp("grafana-home"), models_root=quick_models_root,
                       gateway_port=ports, website_port=ports + 1, prometheus_port=ports + 2,
                       component_port=ports + 3, metrics_port=free_port_block(3), website=True, prometheus=True,
                       model_workers=1)
    with stack, requests.Session() as http:
        prometheus = Prometheus(stack.prometheus_url, http)
        observed = Observed(prometheus, stack.config.name)
        users = Users(http, stack, per_arm=max(n for n, _ in MEASURED.values()) + 4)
        _warm_up(http, stack, observed, users)
        settled = time.time()
        ledger = {arm: f'up{{job="funflix-ledgers", component="{arm}"}}' for arm in ARMS}  # impressions, clicks
        first = {arm: prometheus.scrape_after(ledger[arm], settled) for arm in ARMS}
        # The website's labelled series are born in the warm-up; a scrape must hold them before the
        # measured phase moves them, or rate() over the scenario sees no increase.
        prometheus.scrape_after('up{job="funflix-website"}', settled)
        # So must the components' (their latency and recommendation series): Prometheus staggers each
        # target's first scrape within the interval, and one that first came after an arm's last
        # prediction read a flat counter (the latency and split panels gave 0/0 for that arm in CI).
        for arm in ARMS:  # a successful scrape holding the series, not only an attempt (`up`)
            prometheus.scrape_after(f'funflix_recommendations_total{{model_name="{arm}"}}', settled)
        _measured_phase(http, stack, observed, users)
        done = time.time()
        observed.window = {arm: (first[arm], prometheus.scrape_after(ledger[arm], done)) for arm in ARMS}
        _outage(http, stack)
        ended = time.time()
        # Evaluate after every target still up has been scraped once more: the arms too, since the
        # website's feedback of the measured phase may land just after an arm's previous scrape.
        selectors = [f'up{{job="{job}"}}' for job in ("funflix-gateway", "funflix-website")]
        selectors += [f'up{{job="funflix-components", component="{arm}"}}' for arm in ARMS] + list(ledger.values())
        observed.at = max(prometheus.scrape_after(selector, ended) for selector in selectors)
        yield observed


def _values(result: list[dict]) -> list[float]:
    return [float(series["value"][1]) for series in result]


def _by_arm(observed: Observed, expr: str, **kwargs) -> dict[str, float]:
    return {s["metric"]["model_name"]: float(s["value"][1]) for s in observed.run(expr, **kwargs)}


def _target(panel: str, legend: str):
    (found,) = [t for t in TARGETS if t.panel == panel and t.legend == legend]
    return found


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_panel_query_runs_and_returns_data(observed, target):
    result = observed.run(target.expr)
    if "seldon_api_executor" in target.expr:
        return  # the Seldon executor replaces the local gateway on a cluster only: valid, empty here
    assert result, f"no data for {target.name}: {target.expr}"
    values = _values(result)
    assert all(math.isfinite(v) for v in values), f"{target.name}: {values}"
    if target.expr.startswith("vector("):
        return
    arm = target.legend.split()[0]
    if arm in ARMS:  # a per-arm query: one series, labelled with its arm
        assert [s["metric"].get("model_name") for s in result] == [arm], target.name


@pytest.mark.parametrize("panel", ["Impressions", "Clicks", "CTR", "Cumulative CTR per arm"])
def test_counts_and_cumulative_ctr_equal_the_traffic_sent(observed, panel):
    for arm in ARMS:
        impressions, clicks = observed.totals[arm]
        expected = {"Impressions": impressions, "Clicks": clicks}.get(panel, clicks / impressions)
        assert _values(observed.run(_target(panel, arm).expr)) == [pytest.approx(expected, rel=1e-12)], arm


def test_lift_and_z_equal_the_two_proportion_test(observed):
    (n_c, c_c), (n_h, c_h) = observed.totals["control"], observed.totals["challenger"]
    z, _ = proportions_ztest([c_h, c_c], [n_h, n_c])
    lift = (c_h / n_h) / (c_c / n_c) - 1
    for panel, expected in (("Lift vs control", lift), ("Lift vs control (cumulative)", lift),
                            ("z vs control", z), ("Significance: z vs control (fixed-horizon)", z)):
        assert _by_arm(observed, _target(panel, "challenger").expr) == {"challenger": pytest.approx(expected, rel=1e-9)}


def test_windowed_ctr_and_rates_are_exact_over_a_window_between_two_scrapes(observed):
    for arm in ARMS:
        first, last = observed.window[arm]
        window_ms = round((last - first) * 1000)
        impressions, clicks = observed.measured[arm]

        def run(panel, legend):
            return _by_arm(observed, _target(panel, legend).expr, at=last, window=f"{window_ms}ms")[arm]

        assert run("CTR per arm ($window window)", arm) == pytest.approx(clicks / impressions, rel=1e-12)
        # the rate panels use $__rate_interval: give them the same aligned window
        for legend, sent in ((f"{arm} impressions", impressions), (f"{arm} clicks", clicks)):
            expr = _target("Impressions and clicks per second", legend).expr.replace("$__rate_interval", "$window")
            rate = _by_arm(observed, expr, at=last, window=f"{window_ms}ms")[arm]
            assert rate * window_ms / 1000 == pytest.approx(sent, rel=1e-9), legend


def test_traffic_split_shares_sum_to_one_and_configured_lines_hold_the_split(observed):
    shares = {arm: _values(observed.run(_target("Traffic split ($window window)", arm).expr)) for arm in ARMS}
    assert all(0 < s[0] < 1 for s in shares.values())
    assert sum(s[0] for s in shares.values()) == pytest.approx(1.0, rel=1e-12)
    for arm in BUILDER.load_experiment().arms:
        assert _values(observed.run(_target("Traffic split ($window window)", f"{arm.name} configured").expr)) \
            == [arm.split]


def _counts(observed: Observed, panel: str, legend: str, labels: tuple[str, ...], **kwargs) -> dict[tuple, float]:
    return {tuple(s["metric"][k] for k in labels): float(s["value"][1])
            for s in observed.run(_target(panel, legend).expr, **kwargs)}


def _events_over(expr: str, window: str) -> str:
    """An events query over another window than its literal one."""
    literal = BUILDER.promql.EVENTS_WINDOW
    assert f"[{literal}]" in expr and f"offset {literal}" in expr
    return expr.replace(f"[{literal}]", f"[{window}]").replace(f"offset {literal}", f"offset {window}")


NOT_CREDITED = "Feedback not credited (events in the last 5m)"


def test_uncredited_feedback_counts_every_event_including_the_first_of_a_kind(observed):
    other = [arm for arm in ARMS if arm != BROADCAST_ARM]
    expected = {**{(arm, "duplicate"): 2.0 for arm in ARMS}, **{(arm, "other_arm"): float(arm in other) for arm in ARMS}}
    assert _counts(observed, NOT_CREDITED, "{{model_name}} {{reason}}", ("model_name", "reason")) == expected
    # over the measured window: from increase() (the ledger's series exist at 0 from the start)
    target = _target(NOT_CREDITED, "{{model_name}} {{reason}}")
    for arm in ARMS:
        first, last = observed.window[arm]
        expr = _events_over(target.expr, f"{round((last - first) * 1000)}ms")
        found = {s["metric"]["reason"]: float(s["value"][1]) for s in observed.run(expr, at=last)
                 if s["metric"]["model_name"] == arm}
        assert found == {"duplicate": 1.0, "other_arm": float(arm in other)}, arm


def test_website_feedback_posts_and_backlog(observed):
    posts = _counts(observed, "Feedback posts from the website", "{{arm}} reward={{reward}} {{outcome}}",
                    ("arm", "reward", "outcome"))
    assert set(posts) == {(observed.website_arm, "1", "sent"), (observed.website_arm, "0", "sent")}
    assert all(rate > 0 for rate in posts.values())
    assert _values(observed.run(_target("Feedback outbox backlog", "not yet delivered").expr)) == [0.0]


def test_error_and_fallback_panels_count_the_outage(observed):
    errors = "Errors (events in the last 5m)"
    # predictions: the bad request (400); during the outage ours and the website's (503)
    assert _counts(observed, errors, "gateway {{endpoint}} {{code}}", ("endpoint", "code")) == {
        ("predictions", "400"): 1.0, ("predictions", "503"): 2.0}
    assert _counts(observed, errors, "upstream {{component}} {{kind}}", ("component",)) == {("ab-router",): 2.0}
    website = _counts(observed, errors, "website {{kind}}", ("kind",))
    fallback = _counts(observed, "Fallback impressions (events in the last 5m)", "fallback {{reason}}", ("reason",))
    assert list(fallback.values()) == [1.0]
    assert website == {(f"gateway_{reason}",): 1.0 for (reason,) in fallback}
    rows = _counts(observed, "Fallback impressions (events in the last 5m)", "experiment {{arm}}", ("arm",))
    assert rows == {(observed.website_arm,): 4.0}  # two clicked visits of two rows each


@pytest.mark.parametrize("panel,label", [("Top-k latency per arm (model component)", "model_name"),
                                         ("Unified endpoint latency", "endpoint"), ("Website latency", "page"),
                                         ("Website latency", "call")])
def test_latency_p50_is_at_most_p99(observed, panel, label):
    quantiles = {}
    for target in (t for t in TARGETS if t.panel == panel and "seldon_api_executor" not in t.expr):
        for series in observed.run(target.expr):
            if label in series["metric"]:
                quantiles.setdefault(series["metric"][label], {})[target.legend.split()[-1]] = float(series["value"][1])
    assert quantiles
    for key, q in quantiles.items():
        assert 0 < q["p50"] <= q["p99"], (key, q)
        assert q.get("mean", 1.0) > 0, (key, q)
