"""The chart's components started the way a cluster starts them, then the chart's `helm test` script.

Both orchestrators: each graph node's container runs its rendered command (``seldon-core-microservice
$(MODEL_NAME) --service-type $(SERVICE_TYPE)``, expanded) with the env the cluster gives it
(:func:`funflix.k8s.graph.component_processes`: with ``seldon`` the chart's env plus what the operator
adds, with ``funflix`` the Deployment's own), on free ports. With ``seldon`` the local gateway stands
in for the executor, which cannot run here; with ``funflix`` the gateway runs the rendered gateway
Deployment's command, its Service names pointed at the local ports. The rendered helm test pod's
script then posts to it and must pass.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from funflix import k8s
from funflix.environments import serving_bin
from funflix.k8s.graph import GRAPH_NODE_LABEL, component_processes
from funflix.serving.processes import ManagedProcess, free_port_block

from .manifests import env_of, find

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent  # the website image's environment
PORT_ENV = ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "PREDICTIVE_UNIT_SERVICE_PORT", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT",
            "PREDICTIVE_UNIT_METRICS_SERVICE_PORT")


def local_gateway_command(docs: list[dict], addresses: dict, port: int, metrics_port: int, config: Path) -> list[str]:
    """The rendered gateway Deployment's command, its listening ports, config and Service names made local."""
    services = {d["metadata"]["name"]: d["metadata"]["labels"][GRAPH_NODE_LABEL] for d in docs
                if d["kind"] == "Service" and GRAPH_NODE_LABEL in d["metadata"]["labels"]}
    local = {"--host": "127.0.0.1", "--port": str(port), "--metrics-port": str(metrics_port), "--config": str(config)}
    command = []
    for arg in find(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]["command"]:
        flag, _, value = arg.partition("=")
        if arg == "python":
            arg = sys.executable
        elif flag in local:
            arg = f"{flag}={local[flag]}"
        elif flag in ("--router", "--combiner", "--child"):
            prefix, _, address = value.rpartition("=")
            service = address.split(":")[0]
            arg = f"{flag}={prefix + '=' if prefix else ''}127.0.0.1:{addresses[services[service]]['http']}"
        command.append(arg)
    return command


def resolved_env(container: dict, docs: list[dict]) -> dict[str, str]:
    """A container's env with its secretKeyRef values read from the rendered Secrets, as the kubelet does."""
    secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
    env = {}
    for name, value in env_of(container).items():
        if isinstance(value, dict):
            ref = value["secretKeyRef"]
            value = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
        env[name] = value
    return env


def component_containers(docs: list[dict]) -> dict[str, dict]:
    """Every graph node's container by name, from either rendering (SeldonDeployment or node Deployments)."""
    containers = {}
    for d in docs:
        if d["kind"] == "SeldonDeployment":
            for spec in d["spec"]["predictors"][0]["componentSpecs"]:
                containers.update({c["name"]: c for c in spec["spec"]["containers"]})
        elif d["kind"] == "Deployment" and GRAPH_NODE_LABEL in d["spec"]["template"]["metadata"].get("labels", {}):
            containers.update({c["name"]: c for c in d["spec"]["template"]["spec"]["containers"]})
    return containers


@contextmanager
def rendered_graph(values: dict, home: Path):
    """The chart rendered from ``values``: its graph's components as processes (the root, router or
    combiner, first), behind the gateway of the orchestrator (``values["orchestrator"]``)."""
    orchestrator = values["orchestrator"]
    docs = k8s.documents(k8s.render(values))
    components = component_processes(docs)
    ports = free_port_block(3 * len(components) + 2)
    processes, addresses = [], {}
    containers = component_containers(docs)
    for index, component in enumerate(components):
        secret_env = {name: value for name, value in resolved_env(containers[component.name], docs).items()
                      if name not in component.env}  # what plain_env leaves out: the Secrets' values
        http, grpc, metrics = ports + 3 * index, ports + 3 * index + 1, ports + 3 * index + 2
        local_ports = dict(zip(PORT_ENV, map(str, (http, http, grpc, metrics))))
        process_env = {**os.environ, **component.env, **secret_env, **local_ports, "FUNFLIX_HOME": str(home / component.name),
                       "PATH": f"{serving_bin()}:{os.environ['PATH']}"}  # as in the serving image
        ready_path = "/health/ping" if component.service_type in ("ROUTER", "COMBINER") else "/health/status"
        processes.append(ManagedProcess(component.name, list(component.command),
                                        home / "logs" / f"{component.name}.log",
                                        f"http://127.0.0.1:{http}{ready_path}", env=process_env))
        addresses[component.name] = {"http": http, "metrics": metrics}
    gateway_port, gateway_metrics = ports + 3 * len(components), ports + 3 * len(components) + 1
    if orchestrator == "funflix":
        config = home / "values.yaml"
        config.write_text(find(docs, "ConfigMap", "-experiment")["data"]["values.yaml"])
        gateway = local_gateway_command(docs, addresses, gateway_port, gateway_metrics, config)
    else:
        values_file = home / "values.yaml"
        values_file.write_text(yaml.safe_dump(values, sort_keys=False))
        root = find(docs, "SeldonDeployment")["spec"]["predictors"][0]["graph"]
        gateway = [sys.executable, "-m", "funflix.serving.gateway", "--port", str(gateway_port), "--config",
                   str(values_file), "--combiner" if root["type"] == "COMBINER" else "--router",
                   f"127.0.0.1:{addresses[root['name']]['http']}"]
        gateway += [arg for child in root["children"]
                    for arg in ("--child", f"{child['name']}=127.0.0.1:{addresses[child['name']]['http']}")]
    processes.append(ManagedProcess("gateway", gateway, home / "logs" / "gateway.log",
                                    f"http://127.0.0.1:{gateway_port}/live",
                                    env={**os.environ, "FUNFLIX_HOME": str(home / "gateway")}))
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + 120
        for process in processes:
            process.wait_healthy(deadline)  # the chart's readinessProbe paths answer 200
        yield {"orchestrator": orchestrator, "docs": docs, "addresses": addresses,
               "gateway": f"http://127.0.0.1:{gateway_port}", "gateway_metrics": gateway_metrics,
               "metrics_path": values["seldon"]["metricsPath"]}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait_stopped()


@pytest.fixture(scope="module", params=["seldon", "funflix"])
def deployed(request, tmp_path_factory, quick_models_root, helm, postgres):
    """The rendered chart's router and arms as processes, behind the gateway of the orchestrator; the
    event store (and the arms' shared ledger) is a real PostgreSQL given as ``database.url``."""
    orchestrator = request.param
    database = postgres.create_database(f"funflix_chart_{orchestrator}")
    values = k8s.load_values(sets=[f"orchestrator={orchestrator}", f"models.mountPath={quick_models_root}",
                                   "experiment.arms[0].split=0.7", "experiment.arms[1].split=0.3",
                                   "postgresql.enabled=false", f"database.url={database}"])
    with rendered_graph(values, tmp_path_factory.mktemp(f"chart-home-{orchestrator}")) as running:
        yield {**running, "database": database}


def test_helm_test_pod_script_passes_against_the_graph(deployed):
    pod = find(deployed["docs"], "Pod")
    container = pod["spec"]["containers"][0]
    env = {**os.environ, **env_of(container), "GATEWAY_URL": deployed["gateway"]}
    command = [sys.executable if part == "python" else part for part in container["command"]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: 5 items from arm" in done.stdout


def test_helm_test_pod_script_fails_without_routing(deployed):
    """The script is a real check: pointed at one arm directly (no router, no routing), it fails."""
    pod = find(deployed["docs"], "Pod")
    container = pod["spec"]["containers"][0]
    arm = f"http://127.0.0.1:{deployed['addresses']['control']['http']}"
    env = {**os.environ, **env_of(container), "GATEWAY_URL": arm}
    command = [sys.executable if part == "python" else part for part in container["command"]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "meta.routing has no ab-router child index" in done.stderr


def test_router_uses_the_rendered_split(deployed):
    """The router got split 0.7,0.3 from the graph parameters: sticky routing sends ~70% of users to control."""
    arms = []
    with requests.Session() as http:
        for user in range(1, 401):
            answer = http.post(f"{deployed['gateway']}/api/v1.0/predictions",
                               json={"jsonData": {"user_id": user, "k": 1}}, timeout=10).json()
            arms.append(answer["meta"]["tags"]["arm"])
    share = arms.count("control") / len(arms)
    assert abs(share - 0.7) < 4 * (0.7 * 0.3 / len(arms)) ** 0.5, share


def test_arms_serve_their_metrics_on_the_charts_port_and_path(deployed):
    """What the chart's prometheus.io annotations and PodMonitor point at: per-arm counters, told apart."""
    from funflix.serving import metric_names

    for user in range(1, 21):  # sticky at 70/30: both arms serve some of these users
        requests.post(f"{deployed['gateway']}/api/v1.0/predictions", json={"jsonData": {"user_id": user, "k": 2}},
                      timeout=10)
    for name, address in deployed["addresses"].items():
        response = requests.get(f"http://127.0.0.1:{address['metrics']}{deployed['metrics_path']}", timeout=5)
        assert response.status_code == 200, name
        if name != "ab-router":
            series = [line for line in response.text.splitlines()
                      if line.startswith(f"{metric_names.RECOMMENDATIONS}_total{{")]
            assert series and all(f'model_name="{name}"' in line and f'arm="{name}"' in line for line in series)


def test_arms_credit_feedback_in_the_ledger_the_chart_gives_them(deployed):
    """FUNFLIX_LEDGER_URL from the database Secret: the credits land in that PostgreSQL, and the arm's
    ledger route (the PodMonitor's http port and path) counts them."""
    import sqlalchemy as sa

    from funflix.serving import metric_names

    served = requests.post(f"{deployed['gateway']}/api/v1.0/predictions", json={"jsonData": {"user_id": 3}},
                           timeout=10).json()
    arm = served["meta"]["tags"]["arm"]
    answer = requests.post(f"{deployed['gateway']}/api/v1.0/feedback", json={"response": served, "reward": 1},
                           timeout=10).json()
    assert answer["jsonData"]["credited"] is True
    engine = sa.create_engine(deployed["database"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT arm FROM ledger_credited WHERE puid = :p"),
                            {"p": served["meta"]["puid"]}).scalar() == arm
    engine.dispose()
    ledger = requests.get(f"http://127.0.0.1:{deployed['addresses'][arm]['http']}{metric_names.LEDGER_METRICS_PATH}",
                          timeout=5).text
    assert re.search(rf'^{metric_names.CLICKS}_total{{[^}}]*model_name="{arm}"[^}}]*}} 1\.0$', ledger, re.M), ledger


def test_website_starts_from_the_rendered_deployment(deployed, tmp_path, movielens_dir, quick_models_root):
    """The website container's command and env (Secrets resolved) start the real site; it is ready and
    shows the graph's recommendations (its gateway URL pointed at the local stand-in for the executor)."""
    port = free_port_block(1)
    database = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    values = k8s.load_values(sets=[f"orchestrator={deployed['orchestrator']}", f"website.port={port}", "website.workers=1", "postgresql.enabled=false",
                                   f"database.url={database}", f"movielens.root={movielens_dir.parent}",
                                   f"models.mountPath={quick_models_root}"])
    docs = k8s.documents(k8s.render(values))
    container = find(docs, "Deployment", "-website")["spec"]["template"]["spec"]["containers"][0]
    env = resolved_env(container, docs)
    assert env["FUNFLIX_DATABASE_URL"] == database
    env.update(FUNFLIX_GATEWAY_URL=deployed["gateway"], FUNFLIX_HOME=str(tmp_path / "home"),
               PATH=f"{BIN}:{os.environ['PATH']}")
    site = ManagedProcess("website", container["command"], tmp_path / "website.log",
                          f"http://127.0.0.1:{port}{container['readinessProbe']['httpGet']['path']}",
                          env={**os.environ, **env})
    site.start()
    try:
        site.wait_healthy(time.monotonic() + 90)
        with requests.Session() as browser:
            browser.post(f"http://127.0.0.1:{port}/signin", data={"user_id": "1"}, timeout=10)
            home = browser.get(f"http://127.0.0.1:{port}/", timeout=30).text
        assert 'data-testid="rec-row"' in home
        assert 'data-fallback="false"' in home  # the row came from the graph, not the popularity fallback
    finally:
        site.stop()


def test_gateway_serves_its_metrics_and_on_the_charts_metrics_port_apart(deployed):
    """The unified endpoint's request counters; with orchestrator funflix also on the gateway's metrics port
    (what its pod annotations name), where nothing else answers: the NetworkPolicy opens that port to scrapers."""
    requests.post(f"{deployed['gateway']}/api/v1.0/predictions", json={"jsonData": {"user_id": 3, "k": 2}}, timeout=10)
    ports = [deployed["gateway"]]
    if deployed["orchestrator"] == "funflix":
        ports.append(f"http://127.0.0.1:{deployed['gateway_metrics']}")
        predictions = requests.post(f"{ports[1]}/api/v1.0/predictions", json={"jsonData": {"user_id": 3}}, timeout=5)
        assert predictions.status_code == 404
    for base in ports:
        metrics = requests.get(f"{base}/prometheus", timeout=5)
        assert metrics.status_code == 200
        assert "funflix_gateway_requests_total{" in metrics.text and 'endpoint="predictions"' in metrics.text


@pytest.mark.parametrize("orchestrator", ["seldon", "funflix"])
def test_a_component_stops_when_the_kubelet_signals_it(tmp_path, orchestrator):
    """The kubelet stops a container with SIGTERM to its first process only, and SIGKILLs it after the pod's
    grace period (30 s). seldon-core-microservice then waits on its gRPC server process, which the signal
    never reaches: a component must not start one (REST only), or every rollout and pod deletion waits 30 s."""
    docs = k8s.documents(k8s.render(k8s.load_values(sets=[f"orchestrator={orchestrator}"])))
    router = component_processes(docs)[0]
    http, grpc, metrics = (free_port_block(3) + i for i in range(3))
    env = {**os.environ, **router.env, **dict(zip(PORT_ENV, map(str, (http, http, grpc, metrics)))),
           "FUNFLIX_HOME": str(tmp_path), "PATH": f"{serving_bin()}:{os.environ['PATH']}"}
    process = ManagedProcess("router", list(router.command), tmp_path / "router.log",
                             f"http://127.0.0.1:{http}/health/ping", env=env)
    process.start()
    try:
        process.wait_healthy(time.monotonic() + 120)
        process.process.send_signal(signal.SIGTERM)  # the first process only, as the kubelet does
        try:
            code = process.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the router ignored SIGTERM for 20 s:\n{process.log_tail()}")
        assert code == 0, process.log_tail()
    finally:
        process.kill()
