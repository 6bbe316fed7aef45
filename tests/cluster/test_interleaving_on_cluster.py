"""Interleaving on the real test cluster: ``experiment.design: interleaving`` with ``orchestrator: funflix``.

One release serves the module: the team-draft COMBINER is the gateway's root and its pod Ready beside the
arms'; simulated users (the chart's traffic Job) browse the website, which stores each shown item's team;
each click is credited to the team that drafted the clicked item exactly once, in the arms' shared
ledger (PostgreSQL) and in the team counters an outside Prometheus scrapes; feedback re-posted many times
at once (an outbox retry, a second broadcast) changes nothing; ``funflix analyze --design interleaving``
reads the cluster's store; the split operations (``funflix k8s split/promote/rollback/status``) refuse an
interleaving release, funflix or Seldon, by name (it has no split).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from funflix import cli, k8s
from funflix.paths import REPO_ROOT

from .chart_release import SCRAPE_SECONDS, install_seldon_crd

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RELEASE = "il"
TEAMS = ("control", "challenger")
EXTRA_VALUES = {"experiment": {"design": "interleaving"}}


def team_counter(prometheus, release, name: str, expected: dict[str, float] | None = None) -> dict[str, float]:
    """A team counter per team (``arm``) as the dashboard reads it: the max over the arm's replicas."""
    expr = f'max by (arm) ({name}{{namespace="{release.namespace}"}})'
    if expected is not None:
        return prometheus.wait_equal(expr, expected, label="arm")
    return prometheus.by_label(expr, label="arm")


def clicks_by_team(store) -> dict[str, int]:
    """Clicked impressions per team that drafted the clicked item, from the event store."""
    counts = dict.fromkeys(TEAMS, 0)
    for items, teams, clicked in store.rows("SELECT items, teams, clicked_item FROM impressions "
                                            "WHERE teams IS NOT NULL AND status = 'clicked'"):
        counts[teams[items.index(clicked)]] += 1
    return counts


@pytest.fixture(scope="module")
def traffic(release, values, store):
    """The chart's HTTP traffic Job, run to the end and its feedback drained."""
    release.upgrade(k8s.merge_values(values, {"traffic": {"enabled": True}}), "traffic")
    revision = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)["version"]
    release.wait_job(f"{release.fullname}-traffic-{revision}", timeout=600)
    store.wait_drained()
    return store.closed_by_arm()


def test_the_combiner_is_the_graph_root_and_every_pod_is_ready(release):
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in release.pods()}
    assert components == {"gateway", "combiner", "model", "website", "database"}
    answer = requests.post(f"{release.service_url('gateway')}/api/v1.0/predictions",
                           json={"jsonData": {"user_id": 7, "k": 10}}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    teams, items = body["meta"]["tags"]["teams"], body["jsonData"]["items"]
    assert len(teams) == len(items) == 10 and set(teams) == set(TEAMS) and len(set(items)) == 10
    assert body["meta"]["routing"] == {"interleaver": -1}


def test_each_click_is_credited_once_to_the_team_that_drafted_the_item(release, store, prometheus, traffic):
    assert set(traffic) == {"interleaver"} and traffic == store.sent_by_arm()
    impressions, clicks = traffic["interleaver"]
    assert clicks > 0
    assert store.scalar("SELECT count(*) FROM impressions WHERE teams IS NULL AND arm IS NOT NULL") == 0
    by_team = clicks_by_team(store)
    assert sum(by_team.values()) == clicks
    ledger = {arm: (int(n), int(c)) for arm, n, c in store.rows(
        "SELECT arm, count(*), sum(clicks) FROM ledger_team_credited GROUP BY arm")}
    assert ledger == {team: (impressions, by_team[team]) for team in TEAMS}

    assert team_counter(prometheus, release, "funflix_team_impressions_total", dict.fromkeys(TEAMS, impressions)) == \
        dict.fromkeys(TEAMS, impressions)
    assert team_counter(prometheus, release, "funflix_team_clicks_total",
                        {t: float(c) for t, c in by_team.items()}) == by_team
    wins = prometheus.by_label(f'max by (arm) (funflix_team_outcomes_total{{namespace="{release.namespace}",'
                               f'outcome="win"}})', label="arm")
    assert {team: wins.get(team, 0.0) for team in TEAMS} == by_team  # one click per list: its item's team wins


def test_feedback_posted_again_many_times_at_once_changes_no_credit(release, store, prometheus, traffic):
    before = {name: team_counter(prometheus, release, name) for name in
              ("funflix_team_impressions_total", "funflix_team_clicks_total")}
    payloads = [p for (p,) in store.rows("SELECT payload FROM feedback WHERE reward = 1 LIMIT 3")]
    url = f"{release.service_url('gateway')}/api/v1.0/feedback"
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda p: requests.post(url, json=p, timeout=30).status_code, payloads * 8))
    assert codes == [200] * len(codes)
    impressions, clicks = traffic["interleaver"]
    assert store.rows("SELECT count(*), sum(clicks) FROM ledger_team_credited") == [(2 * impressions, clicks)]
    time.sleep(3 * SCRAPE_SECONDS)  # a wrong increment would be scraped by now
    for name, seen in before.items():
        assert team_counter(prometheus, release, name) == seen


def test_funflix_analyze_reads_the_clusters_interleaved_store(release, traffic):
    done = subprocess.run([sys.executable, "-m", "funflix.cli", "analyze", "--db-url", release.database_url(),
                           "--design", "interleaving", "--json"], capture_output=True, text=True, timeout=300,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["design"] == "interleaving" and result["impressions"] == traffic["interleaver"][0]
    assert sum(result["team_clicks"].values()) == traffic["interleaver"][1]


@pytest.mark.parametrize("action", [["split", "control=0.8", "challenger=0.2"], ["promote", "challenger"],
                                    ["rollback"], ["status"]])
def test_the_split_operations_refuse_an_interleaving_release_by_name(cluster, release, action, capsys):
    code = cli.main(["k8s", *action, "--kubeconfig", str(cluster.kubeconfig), "--namespace", release.namespace,
                     "--release", RELEASE])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"release {RELEASE} in {release.namespace} runs an interleaving experiment" in err
    assert "funflix analyze --design interleaving" in err and "Traceback" not in err


def test_a_seldon_deployments_combiner_graph_is_refused_too(cluster, namespace, capsys):
    """Seldon's operator cannot run here: the SeldonDeployment is stored (schema-checked), never reconciled."""
    install_seldon_crd(cluster)
    docs = k8s.documents(k8s.render(k8s.merge_values(k8s.load_values(), EXTRA_VALUES), release="sd",
                                    namespace=namespace))
    sdep = next(d for d in docs if d["kind"] == "SeldonDeployment")
    sdep["metadata"]["namespace"] = namespace
    cluster.apply(sdep)
    code = cli.main(["k8s", "split", "control=0.8", "challenger=0.2", "--kubeconfig", str(cluster.kubeconfig),
                     "--namespace", namespace, "--release", "sd"])
    assert code == 1
    assert f"release sd in {namespace} runs an interleaving experiment" in capsys.readouterr().err
