"""The interleaving row's PromQL, run by a real Prometheus that scraped the real interleaved stack
(team-draft combiner and both arms as seldon-core-microservice processes) after feedback with known
outcomes: team clicks, outcomes and the challenger's win share equal what was sent."""

from __future__ import annotations

import json
import time

import pytest
import requests

from funflix.serving.experiment_config import load_experiment
from funflix.serving.processes import free_port_block
from funflix.serving.stack import LocalStack

from .conftest import load_builder, substitute, targets_of
from .test_dashboard_queries import Prometheus

pytestmark = pytest.mark.slow
CLICK_POSITIONS = [0, 1, 2, 3, None, 4, 5, None, 0, 1, 2, None]  # one impression each, None: no click


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, quick_models_root, interleaving_values):
    home = tmp_path_factory.mktemp("grafana-interleaving")
    ports = free_port_block(8)
    stack = LocalStack(config_path=interleaving_values, home=home, models_root=quick_models_root,
                       gateway_port=ports, prometheus_port=ports + 2, component_port=ports + 3,
                       metrics_port=free_port_block(3), website=False, prometheus=True, model_workers=1)
    sent = {"clicks": {"control": 0, "challenger": 0}, "outcomes": {"win": 0, "loss": 0, "tie": 0, "no_click": 0}}

    def impression(http, n: int, position: int | None) -> None:
        body = http.post(f"{stack.gateway_url}/api/v1.0/predictions",
                         json={"jsonData": {"user_id": 40 + n, "k": 10}}, timeout=10).json()
        message = {"response": body, "reward": 0 if position is None else 1}
        if position is None:
            sent["outcomes"]["no_click"] += 1
        else:
            team = body["meta"]["tags"]["teams"][position]
            sent["clicks"][team] += 1
            sent["outcomes"]["win" if team == "challenger" else "loss"] += 1
            message["truth"] = {"jsonData": {"clicked": [body["jsonData"]["items"][position]]}}
        assert http.post(f"{stack.gateway_url}/api/v1.0/feedback", json=message, timeout=10).status_code == 200

    with stack, requests.Session() as http:
        prometheus = Prometheus(stack.prometheus_url, http)
        n = 0
        while not (sent["outcomes"]["win"] and sent["outcomes"]["loss"] and sent["outcomes"]["no_click"]):
            impression(http, n, None if n % 3 == 2 else n % 10)  # every series born before the measured phase
            n += 1
        ledgers = [f'up{{job="funflix-ledgers", component="{arm}"}}' for arm in stack.config.arm_names]
        warm = time.time()
        for ledger in ledgers:  # the team counters come from the arms' ledgers
            prometheus.scrape_after(ledger, warm)
        for position in CLICK_POSITIONS:
            impression(http, n, position)
            n += 1
        done = time.time()
        at = max(prometheus.scrape_after(ledger, done) for ledger in ledgers)
        board = json.loads(load_builder().render(load_experiment(interleaving_values)))
        targets = [t for t in targets_of(board) if t.panel.startswith("Interleaving")]

        def run(expr: str) -> list[dict]:
            return prometheus.query(substitute(expr, window="5m", rate_interval="5m", deployment=stack.config.name), at)

        yield {"sent": sent, "targets": targets, "run": run}


def target(scenario, panel_start: str, legend: str):
    (found,) = [t for t in scenario["targets"] if t.panel.startswith(panel_start) and t.legend == legend]
    return found


def test_the_row_exists_only_for_the_interleaving_design():
    assert not [t for t in targets_of(json.loads(load_builder().render())) if t.panel.startswith("Interleaving")]


def test_team_clicks_equal_the_clicks_sent(scenario):
    for team, clicks in scenario["sent"]["clicks"].items():
        result = scenario["run"](target(scenario, "Interleaving: clicks per team", team).expr)
        assert [float(s["value"][1]) for s in result] == [clicks]


def test_outcomes_equal_what_was_sent(scenario):
    result = scenario["run"](target(scenario, "Interleaving: challenger outcome", "{{outcome}}").expr)
    got = {s["metric"]["outcome"]: float(s["value"][1]) for s in result}
    assert got == scenario["sent"]["outcomes"]  # tie included: one click per impression never ties


def test_the_win_share_is_wins_over_decided_impressions(scenario):
    o = scenario["sent"]["outcomes"]
    for legend in ("cumulative", "$window window"):
        result = scenario["run"](target(scenario, "Interleaving: challenger share", legend).expr)
        (value,) = [float(s["value"][1]) for s in result]
        if legend == "cumulative":
            assert value == pytest.approx(o["win"] / (o["win"] + o["loss"]))
        else:  # over the window: the increase since the warm-up's scrape, with Prometheus's extrapolation
            assert 0.0 <= value <= 1.0
