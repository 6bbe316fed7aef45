"""Interleaving end to end on the real local stack: the site and the HTTP simulator unchanged, the
combiner's lists in the event store with their teams, each click credited to its team exactly once
by the arms' components (feedback carries ``truth``), and the analysis reading the store."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone

import pandas as pd
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from funflix.experiment.interleaving import analyze_interleaving
from funflix.serving.processes import free_port_block
from funflix.simulation.simulate import simulate
from funflix.website.store import create_store_engine, get_impression, load_impressions, read_interleaved

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory, quick_models_root, interleaving_values):
    from funflix.serving.stack import LocalStack

    home = tmp_path_factory.mktemp("interleaving-sim")
    base = free_port_block(6)
    with pytest.MonkeyPatch.context() as patch:  # a busy machine must not turn rows into fallbacks
        patch.setenv("FUNFLIX_GATEWAY_TIMEOUT", "5")
        local = LocalStack(config_path=interleaving_values, home=home, models_root=quick_models_root,
                           gateway_port=base, website_port=base + 1, component_port=base + 2,
                           metrics_port=free_port_block(3), prometheus=False).start()
    try:
        yield local
    finally:
        local.stop()


def team_counters(stack) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for component in stack.arms:
        for family in text_string_to_metric_families(requests.get(component.ledger_metrics_url, timeout=5).text):
            for sample in family.samples:
                if sample.name.startswith("funflix_team_") and sample.name.endswith("_total"):
                    key = (sample.name, sample.labels["arm"] + "/" + sample.labels.get("outcome", ""))
                    found[key] = found.get(key, 0) + sample.value
    return found


def interleaved_since(stack, start):
    engine = create_store_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            frame = read_interleaved(conn)
    finally:
        engine.dispose()
    return frame[frame["created_at"] >= start]


@pytest.fixture(scope="module")
def run(stack, calibrated):
    """300 simulated sessions through the site, once every impression's feedback is sent."""
    start = datetime.now(timezone.utc)
    report = simulate("http", 300, site_url=stack.website_url, workers=4, seed=3, calibrated=calibrated,
                      browse_probability=0.2, progress=False)
    deadline = time.monotonic() + 60
    while True:
        states = load_impressions(stack.database_url)
        states = states[states["created_at"] >= start]
        if (states["feedback_state"] == "sent").all() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    frame = interleaved_since(stack, start)
    clicks = {"control": 0, "challenger": 0}
    for items, teams, clicked in zip(frame["items"], frame["teams"], frame["clicked_item"]):
        if not pd.isna(clicked):
            clicks[teams[items.index(int(clicked))]] += 1
    return {"report": report, "states": states, "frame": frame, "clicks": clicks}


def test_the_site_stores_each_interleaved_row_with_its_teams(run):
    report, states, frame = run["report"], run["states"], run["frame"]
    assert report["errors"] == {} and report["completed"] == 300 and report["fallback"]["impressions"] == 0
    assert len(states) == 300 and (states["feedback_state"] == "sent").all()
    assert set(states["arm"]) == {"interleaver"}
    assert len(frame) == 300
    assert all(len(t) == len(i) and set(t) <= {"control", "challenger"} for t, i in zip(frame["teams"], frame["items"]))
    assert sum(run["clicks"].values()) == int(states["clicked"].sum()) > 0


def test_each_team_is_credited_once_per_impression_with_its_clicks(stack, run):
    puids = [r["meta"]["puid"] for r in _responses(stack, run["frame"]["impression_id"])]
    for team in ("control", "challenger"):
        with sqlite3.connect(stack.home / "serving" / f"feedback-{team}.sqlite") as db:
            rows = db.execute(f"SELECT count(*), sum(clicks) FROM ledger_team_credited WHERE puid IN "
                              f"({','.join('?' * len(puids))})", puids).fetchone()
        assert rows == (300, run["clicks"][team])


def test_the_team_counters_equal_the_credited_counts(stack, run):
    """The team counters Prometheus scrapes (the ledger's, on /ledger-metrics) are exact."""
    counters = team_counters(stack)
    clicks = run["clicks"]
    for team, other in (("control", "challenger"), ("challenger", "control")):
        assert counters[("funflix_team_impressions_total", f"{team}/")] == 300
        assert counters.get(("funflix_team_clicks_total", f"{team}/"), 0) == clicks[team]
        assert counters.get(("funflix_team_outcomes_total", f"{team}/win"), 0) == clicks[team]
        assert counters.get(("funflix_team_outcomes_total", f"{team}/loss"), 0) == clicks[other]


def test_the_analysis_reads_the_store(run):
    frame = run["frame"]
    result = analyze_interleaving(frame)
    assert result.impressions == 300 and result.team_clicks == run["clicks"]
    assert result.users.users == frame["user_id"].nunique()
    assert result.outcomes["wins"] == run["clicks"]["challenger"] and result.outcomes["losses"] == run["clicks"]["control"]
    assert result.verdict in {"ship", "keep running", "stop: harm", "inconclusive"}


def _responses(stack, impression_ids) -> list[dict]:
    engine = create_store_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return [get_impression(conn, i).response for i in impression_ids]
    finally:
        engine.dispose()


def test_funflix_analyze_reads_the_interleaved_store(stack, run, tmp_path, capsys):
    from funflix.cli import main

    report = tmp_path / "interleaving.html"
    assert main(["analyze", "--db-url", stack.database_url, "--design", "interleaving", "--json",
                 "--report", str(report)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["design"] == "interleaving" and result["impressions"] >= 300
    assert result["team_clicks"]["challenger"] >= run["clicks"]["challenger"]
    assert "Funflix interleaving report" in report.read_text() and "<svg" in report.read_text()
    assert main(["analyze", "--db-url", stack.database_url, "--design", "interleaving"]) == 0
    assert "VERDICT:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--csv", "x.csv"], "needs each shown item's team"),
    (["--decision", "bayesian"], "for the A/B design"),
    (["--decision", "fixed"], "needs --planned-users"),
    (["--planned-users", "0"], "must be positive"),
])
def test_bad_interleaving_analyze_arguments_are_one_line_errors(argv, message, capsys):
    from funflix.cli import main

    assert main(["analyze", "--design", "interleaving", *argv]) == 2
    assert message in capsys.readouterr().err
