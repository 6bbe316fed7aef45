"""The chart with ``experiment.design=interleaving``: a team-draft COMBINER over the arms, started as
the cluster would start it (both orchestrators: the SeldonDeployment's componentSpecs, or the graph
node Deployments with the Funflix gateway's rendered command), behind the gateway with Seldon's
combiner semantics."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from funflix import k8s

from funflix.k8s.graph import child_order, component_processes, experiment_mismatches

from .manifests import env_of, find
from .test_chart_components import rendered_graph

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["seldon", "funflix"])
def interleaved(request, tmp_path_factory, quick_models_root, helm, postgres):
    """The interleaved graph as the cluster starts it; the arms share a real PostgreSQL ledger."""
    database = postgres.create_database(f"funflix_chart_interleaving_{request.param}")
    values = k8s.load_values(sets=[f"orchestrator={request.param}", f"models.mountPath={quick_models_root}",
                                   "experiment.design=interleaving", "postgresql.enabled=false",
                                   f"database.url={database}"])
    with rendered_graph(values, tmp_path_factory.mktemp(f"chart-interleaving-{request.param}")) as running:
        yield running


def test_the_graph_is_a_combiner_over_the_arms(interleaved):
    docs = interleaved["docs"]
    processes = component_processes(docs)
    assert [p.name for p in processes] == ["interleaver", "control", "challenger"]
    root = processes[0]
    assert root.service_type == "COMBINER"
    assert root.command == ("seldon-core-microservice", "funflix.serving.InterleavingCombiner.InterleavingCombiner",
                            "--service-type", "COMBINER")
    assert root.parameter_values == {"arms": "control,challenger", "name": "interleaver"}
    assert child_order(docs) == ["control", "challenger"]
    if interleaved["orchestrator"] == "seldon":
        sdep = find(docs, "SeldonDeployment")
        graph = sdep["spec"]["predictors"][0]["graph"]
        assert (graph["name"], graph["type"]) == ("interleaver", "COMBINER")
        assert [c["name"] for c in graph["children"]] == ["control", "challenger"]
        assert "ab-router" not in str(sdep)
    else:  # the Funflix gateway gets the combiner as its root
        command = find(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]["command"]
        assert [arg.split("=")[0] for arg in command if arg.startswith(("--router", "--combiner"))] == ["--combiner"]
        assert any(arg.startswith("--combiner=funflix-interleaver:") for arg in command)
        assert not [d for d in docs if d["kind"] in ("Deployment", "Service") and "ab-router" in d["metadata"]["name"]]


def test_the_helm_test_pod_passes_on_the_interleaved_graph(interleaved):
    container = find(interleaved["docs"], "Pod")["spec"]["containers"][0]
    env = {**os.environ, **env_of(container), "GATEWAY_URL": interleaved["gateway"]}
    command = [sys.executable if part == "python" else part for part in container["command"]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = requests.post(f"{interleaved['gateway']}/api/v1.0/predictions",
                           json={"jsonData": {"user_id": 3, "k": 10}}, timeout=10).json()
    assert set(answer["meta"]["tags"]["teams"]) <= {"control", "challenger"} and len(answer["jsonData"]["items"]) == 10


def test_a_click_credits_its_team_once_on_the_rendered_graph(interleaved):
    """The chart's arms share the PostgreSQL ledger: 8 concurrent copies of a click move each team once."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    from funflix.serving.metric_names import LEDGER_METRICS_PATH

    def team_counters():
        found = {}
        for arm in ("control", "challenger"):
            url = f"http://127.0.0.1:{interleaved['addresses'][arm]['http']}{LEDGER_METRICS_PATH}"
            for family in text_string_to_metric_families(requests.get(url, timeout=5).text):
                for sample in family.samples:
                    if sample.name.startswith("funflix_team_"):
                        key = (sample.name, sample.labels["arm"], sample.labels.get("outcome", ""))
                        found[key] = found.get(key, 0) + sample.value
        return found

    body = requests.post(f"{interleaved['gateway']}/api/v1.0/predictions",
                         json={"jsonData": {"user_id": 5, "k": 10}}, timeout=10).json()
    team = body["meta"]["tags"]["teams"][2]
    other = "challenger" if team == "control" else "control"
    message = {"response": body, "reward": 1, "truth": {"jsonData": {"clicked": [body["jsonData"]["items"][2]]}}}
    before = team_counters()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.post(f"{interleaved['gateway']}/api/v1.0/feedback", json=message,
                                                      timeout=10).status_code, range(8)))
    assert codes == [200] * 8
    after = team_counters()
    moved = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert moved == {("funflix_team_impressions_total", team, ""): 1, ("funflix_team_impressions_total", other, ""): 1,
                     ("funflix_team_clicks_total", team, ""): 1, ("funflix_team_outcomes_total", team, "win"): 1,
                     ("funflix_team_outcomes_total", other, "loss"): 1}


def test_the_local_stack_and_the_chart_agree_on_the_interleaved_graph(quick_models_root, helm):
    values = k8s.load_values(sets=["experiment.design=interleaving"])
    for orchestrator in ("seldon", "funflix"):
        docs = k8s.documents(k8s.render({**values, "orchestrator": orchestrator}))
        assert experiment_mismatches(values, docs) == [], orchestrator
        assert experiment_mismatches(k8s.load_values(), docs), orchestrator  # an A/B reading differs


def test_k8s_values_shows_the_interleaved_experiment(helm, capsys):
    from funflix.cli import main

    assert main(["k8s", "values", "--set", "experiment.design=interleaving"]) == 0
    out = capsys.readouterr().out
    assert "team-draft interleaving" in out and "chart and local stack agree" in out
