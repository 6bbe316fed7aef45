"""The Helm chart on the real test cluster, with ``orchestrator: funflix`` (Seldon's operator cannot run here).

One release serves the whole module, in this order: every object accepted by the API server (the
SeldonDeployment of ``orchestrator: seldon`` too, against Seldon's real CRD), a malformed one refused
with the server's message, bad values refused before anything exists; then ``helm install`` from a clean
namespace with every pod Ready and locked down, ``helm test``, simulated users through the website
(a traffic Job) credited exactly once per click in PostgreSQL, in the components' counters as an outside
Prometheus scrapes them (targets discovered from the API server's pods), and in the dashboard's queries; a new split
rolled out for real traffic; faults (an arm's pod, the website's, PostgreSQL's deleted); ``helm uninstall``.

The cluster's bridge CNI does not enforce NetworkPolicies: they are checked as accepted, and the host
reaches the Services' ClusterIPs directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
import sqlalchemy as sa
import yaml

from funflix import cli, k8s
from funflix.paths import REPO_ROOT

from .chart_release import Release, install_seldon_crd, movielens_claim, release_values

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RELEASE = "ff"
ARMS = ("control", "challenger")
DASHBOARD = json.loads((k8s.CHART_DIR / "dashboards" / "funflix.json").read_text())
USERS = range(1, 401)  # sticky routing: the share of these users an arm gets is its split


def dashboard_query(title: str, legend: str, deployment: str) -> str:
    """A panel's PromQL as Grafana sends it for one deployment."""
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            if panel["title"] == title and target.get("legendFormat") == legend:
                return target["expr"].replace("$deployment", deployment)
    raise AssertionError(f"no panel {title!r} with legend {legend!r} in the dashboard")


def arm_shares(gateway: str) -> dict[str, float]:
    """The arms' shares of USERS, each asking the unified endpoint once."""
    served = []
    with requests.Session() as http:
        for user in USERS:
            answer = http.post(f"{gateway}/api/v1.0/predictions", json={"jsonData": {"user_id": user, "k": 2}},
                               timeout=10)
            assert answer.status_code == 200, answer.text
            served.append(answer.json()["meta"]["tags"]["arm"])
    return {arm: served.count(arm) / len(served) for arm in ARMS}


def near(share: float, split: float) -> bool:
    return abs(share - split) <= 4 * (split * (1 - split) / len(USERS)) ** 0.5 + 1e-9


@pytest.fixture(scope="module")
def crd(cluster):
    install_seldon_crd(cluster)


# ---- before anything is installed

@pytest.mark.parametrize("orchestrator", ["seldon", "funflix"])
def test_every_object_is_accepted_by_the_api_server(cluster, crd, chart_namespace, orchestrator):
    values = k8s.load_values(sets=[f"orchestrator={orchestrator}", "models.existingClaim=models",
                                   "models.train.enabled=true", "traffic.enabled=true"])
    report = k8s.validate(values, release=RELEASE, namespace=chart_namespace, server=True,
                          kubeconfig=str(cluster.kubeconfig))
    assert [(d["kind"], d["name"], d["errors"]) for d in report["documents"] if d["errors"]] == []
    kinds = {d["kind"] for d in report["documents"]}
    assert {"NetworkPolicy", "Job", "Deployment", "StatefulSet", "Pod"} <= kinds
    if orchestrator == "seldon":
        (sdep,) = [d for d in report["documents"] if d["kind"] == "SeldonDeployment"]
        assert "API server" in sdep["validator"]  # validated by the server against Seldon's real schema


def test_a_malformed_seldon_deployment_is_refused_with_the_servers_message(cluster, crd, chart_namespace, tmp_path,
                                                                           capsys):
    docs = k8s.documents(k8s.render(k8s.load_values(), release=RELEASE, namespace=chart_namespace))
    sdep = next(d for d in docs if d["kind"] == "SeldonDeployment")
    sdep["spec"]["predictors"][0]["replicas"] = "two"
    path = tmp_path / "malformed.yaml"
    path.write_text(yaml.safe_dump(sdep))
    code = cli.main(["k8s", "validate", "--server", "--kubeconfig", str(cluster.kubeconfig),
                     "--namespace", chart_namespace, "--manifests", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "SeldonDeployment/ff-funflix: FAILED" in out
    assert "API server: The SeldonDeployment \"ff-funflix\" is invalid" in out
    assert "spec.predictors.replicas in body must be of type integer" in out
    assert cluster.kubectl("get", "seldondeployments", "-n", chart_namespace, "-o", "name").stdout == ""


def test_bad_values_are_refused_before_anything_is_applied(cluster, namespace, tmp_path):
    release = Release(cluster, namespace, RELEASE, tmp_path)
    bad = k8s.load_values(sets=["podSecurityContext.runAsNonRoot=false", "experiment.arms[0].split=1.5"])
    done = release.helm("install", RELEASE, str(k8s.CHART_DIR), "--values", str(release.values_file(bad, "bad")),
                        check=False)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr
    assert "podSecurityContext.runAsNonRoot" in done.stderr and "experiment.arms.0.split" in done.stderr
    assert release.objects() == []
    assert release.helm("list", "-q").stdout.strip() == ""


def test_the_train_job_writes_artifacts_into_the_models_claim(cluster, cluster_images, namespace, movielens_dir):
    """The chart's train Job (a pre-install hook), applied alone: `funflix train --quick` in the web image,
    as uid 1000 with a read-only root, writes both arms into a hostPath-backed claim."""
    folder = cluster.host_path_volume(f"models-{namespace}", size="1Gi", uid=1000, gid=1000)
    cluster.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "models", "namespace": namespace},
                   "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": f"models-{namespace}",
                            "resources": {"requests": {"storage": "1Gi"}}}})
    values = k8s.merge_values(release_values(cluster_images, movielens_claim(cluster, namespace, movielens_dir)),
                              {"models": {"existingClaim": "models", "train": {"enabled": True, "args": ["--quick"]}}})
    job = next(d for d in k8s.documents(k8s.render(values, release=RELEASE, namespace=namespace)) if d["kind"] == "Job")
    job["metadata"]["namespace"] = namespace
    cluster.apply(job)
    Release(cluster, namespace, RELEASE, folder).wait_job(job["metadata"]["name"], timeout=600)
    for arm in ARMS:
        version = (folder / arm / "LATEST").read_text().strip()
        assert (folder / arm / version / "arrays.npz").is_file() and (folder / arm / version / "metadata.json").is_file()


# ---- the release

def test_install_brings_every_pod_ready(release):
    pods = release.pods()
    components = sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods)
    assert components == ["database", "gateway", "model", "model", "router", "website"]
    for pod in pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["metadata"]["name"]
    claim = release.kubectl_json("get", "pvc", f"data-{release.fullname}-postgresql-0")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"] == f"pg-{release.namespace}"
    assert release.install_seconds < 480


def test_every_pod_the_cluster_runs_is_locked_down(release):
    for pod in release.pods():
        name, spec = pod["metadata"]["name"], pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
    probe = ("import os; open('/tmp/w', 'w').write('x'); "
             "print(os.getuid(), end=' ');\ntry:\n    open('/root-fs-write', 'w')\nexcept OSError as e:\n    print(e.errno)")
    out = release.cluster.kubectl("exec", "-n", release.namespace, f"deployment/{release.fullname}-gateway", "--",
                                  "python3", "-c", probe, timeout=60).stdout.split()
    assert out == ["1000", "30"]  # uid 1000, EROFS on the root filesystem, /tmp writable


def test_network_policies_are_accepted(release):
    names = [p["metadata"]["name"] for p in release.kubectl_json("get", "networkpolicies")["items"]]
    assert sorted(names) == sorted(f"{release.fullname}-{s}" for s in ("gateway", "components", "postgresql"))


def test_helm_test_passes(release):
    done = release.helm("test", RELEASE, timeout=300)  # its pod is deleted once it succeeded (hook-delete-policy)
    assert "Phase:          Succeeded" in done.stdout, done.stdout


def test_traffic_through_the_website_is_credited_once_per_click(release, values, store, prometheus):
    release.upgrade(k8s.merge_values(values, {"traffic": {"enabled": True}}), "traffic")
    release.wait_job(f"{release.fullname}-traffic-2", timeout=600)
    store.wait_drained()
    closed, sent = store.closed_by_arm(), store.sent_by_arm()
    assert set(closed) == set(ARMS) and closed == sent  # one feedback per ended impression, reward 1 iff clicked
    assert sum(clicks for _, clicks in closed.values()) > 0
    assert store.scalar("SELECT count(*) FROM feedback f JOIN impressions i ON i.id = f.impression_id "
                        "WHERE f.arm <> i.arm") == 0  # credited to the arm that served the list
    assert store.scalar("SELECT count(*) FROM (SELECT impression_id FROM clicks WHERE counted "
                        "GROUP BY impression_id HAVING count(*) <> 1) twice") == 0
    assert store.scalar("SELECT count(DISTINCT impression_id) FROM clicks WHERE counted") == \
        sum(clicks for _, clicks in closed.values())

    expected = {arm: float(n) for arm, (n, _) in closed.items()}
    impressions = prometheus.wait_for(f'max by (model_name) (funflix_impressions_total{{namespace="{release.namespace}"}})',
                                      expected)
    clicks = prometheus.by_label(f'max by (model_name) (funflix_clicks_total{{namespace="{release.namespace}"}})')
    assert impressions == expected
    assert clicks == {arm: float(c) for arm, (_, c) in closed.items()}
    for arm, (n, c) in closed.items():  # the dashboard's own queries and the chart's recording rules
        assert prometheus.by_label(dashboard_query("Impressions", arm, release.fullname)) == {arm: n}
        assert prometheus.by_label(dashboard_query("Clicks", arm, release.fullname)) == {arm: c}
        assert prometheus.by_label(dashboard_query("CTR", arm, release.fullname))[arm] == pytest.approx(c / n, abs=1e-12)
    ctr = prometheus.wait_equal(f'funflix:ctr:ratio{{namespace="{release.namespace}"}}',
                                {arm: c / n for arm, (n, c) in closed.items()})
    assert ctr == pytest.approx({arm: c / n for arm, (n, c) in closed.items()}, abs=1e-12), prometheus.rule_errors()

    done = subprocess.run([sys.executable, "-m", "funflix.cli", "analyze", "--db-url", release.database_url(), "--json"],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert {a["arm"]: a["impressions"] for a in result["arms"]} == {arm: n for arm, (n, _) in closed.items()}
    assert result["verdict"]["decision"]


def test_the_selenium_bot_job_browses_the_site_and_its_clicks_are_credited_once(release, values, store, prometheus):
    """The traffic Job in browser mode: headless Chromium in the web image, driven by Selenium, through the
    website's Service; what it did is in the event store, the components' counters and Prometheus alike."""
    before = store.scalar("SELECT count(*) FROM impressions")
    release.upgrade(k8s.merge_values(values, {"traffic": {"enabled": True, "mode": "browser", "sessions": 6,
                                                          "workers": 1}}), "browser")
    revision = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)["version"]
    job = release.wait_job(f"{release.fullname}-traffic-{revision}", timeout=600)
    assert job["status"]["succeeded"] == 1
    logs = release.cluster.kubectl("logs", "-n", release.namespace, f"job/{release.fullname}-traffic-{revision}").stdout
    summary, _ = json.JSONDecoder().raw_decode(logs, logs.index("{\n"))  # its --json report, amid the logs
    assert (summary["mode"], summary["completed"], summary["errors"]) == ("browser", 6, {}), summary
    assert store.scalar("SELECT count(*) FROM impressions") >= before + 6
    assert_store_components_and_prometheus_agree(release, store, prometheus)


def test_a_new_split_rolls_the_router_and_changes_real_traffic(release, values):
    gateway = release.service_url("gateway")
    before = arm_shares(gateway)
    assert near(before["control"], 0.5), before
    router = release.kubectl_json("get", "deployment", f"{release.fullname}-ab-router")
    pods_before = {p["metadata"]["name"] for p in release.pods("funflix.io/graph-node=ab-router")}
    split = k8s.apply_set(k8s.apply_set(values, "experiment.arms[0].split=0.9"), "experiment.arms[1].split=0.1")
    release.upgrade(split, "split")
    rolled = release.kubectl_json("get", "deployment", f"{release.fullname}-ab-router")
    assert rolled["metadata"]["generation"] == router["metadata"]["generation"] + 1
    pods_after = {p["metadata"]["name"] for p in release.pods("funflix.io/graph-node=ab-router")
                  if not p["metadata"].get("deletionTimestamp")}
    assert pods_after and not pods_after & pods_before
    after = arm_shares(gateway)
    assert near(after["control"], 0.9), after
    assert release.helm("test", RELEASE, timeout=300).returncode == 0
    release.upgrade(values, "split-back")  # the fault tests' upgrades then change nothing but the traffic Job
    assert near(arm_shares(gateway)["control"], 0.5)


# ---- faults under traffic

def run_traffic(release, values, label: str, sessions: int, per_minute: int) -> str:
    """A new release revision whose traffic Job paces ``sessions`` visits; returns the Job's name."""
    release.upgrade(k8s.merge_values(values, {"traffic": {"enabled": True, "sessions": sessions,
                                                          "ratePerMinute": per_minute}}), label)
    revision = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)["version"]
    job = f"{release.fullname}-traffic-{revision}"
    deadline = time.monotonic() + 120
    while not [p for p in release.pods(f"job-name={job}") if p["status"].get("phase") == "Running"
               and all(s.get("ready") for s in p["status"].get("containerStatuses", []))]:
        assert time.monotonic() < deadline, f"traffic Job {job} did not start"
        time.sleep(1)
    return job


def wait_impressions_grow(store, by: int, timeout: float = 120) -> None:
    start = store.scalar("SELECT count(*) FROM impressions")
    deadline = time.monotonic() + timeout
    while store.scalar("SELECT count(*) FROM impressions") < start + by:
        assert time.monotonic() < deadline, "no traffic reached the event store"
        time.sleep(0.5)


def replace_pod(release, selector: str) -> tuple[float, float]:
    """Delete the pod(s) matching ``selector``; (seconds since the epoch at deletion, when the new pod was Ready)."""
    old = {p["metadata"]["name"] for p in release.pods(selector)}
    deleted = time.time()
    release.cluster.kubectl("delete", "pod", "-n", release.namespace, "-l", selector, "--wait=false")
    deadline = time.monotonic() + 180
    while True:
        fresh = [p for p in release.pods(selector) if p["metadata"]["name"] not in old]
        if fresh and all({c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready") == "True"
                         for p in fresh):
            return deleted, time.time()
        assert time.monotonic() < deadline, f"no Ready replacement for {selector}"
        time.sleep(0.5)


def assert_store_components_and_prometheus_agree(release, store, prometheus) -> None:
    """Every ended impression fed back once to its arm; the arms' counters (every replica reports its arm's
    totals from the shared ledger, so a deleted pod's last credits are in its replacement's) equal the
    event store's counts."""
    store.wait_drained()
    closed = store.closed_by_arm()
    assert closed == store.sent_by_arm()
    assert store.scalar("SELECT count(*) FROM feedback f JOIN impressions i ON i.id = f.impression_id "
                        "WHERE f.arm <> i.arm") == 0
    selector = f'namespace="{release.namespace}"'
    expected = {arm: float(n) for arm, (n, _) in closed.items()}
    impressions = prometheus.wait_for(f"max by (model_name) (funflix_impressions_total{{{selector}}})", expected)
    clicks = prometheus.by_label(f"max by (model_name) (funflix_clicks_total{{{selector}}})")
    assert impressions == expected
    assert clicks == {arm: float(c) for arm, (_, c) in closed.items()}


def test_deleting_an_arm_pod_under_traffic_costs_only_its_restart(release, values, store, prometheus):
    before = store.scalar("SELECT count(*) FROM impressions")
    job = run_traffic(release, values, "arm-fault", sessions=240, per_minute=480)
    wait_impressions_grow(store, 20)
    deleted, ready = replace_pod(release, "funflix.io/graph-node=challenger")
    release.wait_job(job, timeout=600)
    fallbacks = store.rows("SELECT extract(epoch FROM created_at) FROM impressions WHERE status = 'fallback' "
                           "ORDER BY created_at")
    assert all(deleted - 1 <= at <= ready + 10 for (at,) in fallbacks), (deleted, ready, fallbacks)
    served_meanwhile = store.scalar("SELECT count(*) FROM impressions WHERE arm = 'control' AND "
                                    "created_at BETWEEN to_timestamp(:a) AND to_timestamp(:b)", a=deleted, b=ready)
    assert served_meanwhile > 0  # the other arm kept serving while the challenger restarted
    assert store.scalar("SELECT count(*) FROM impressions") > before + 200
    assert_store_components_and_prometheus_agree(release, store, prometheus)


def test_deleting_the_website_pod_keeps_its_outbox(release, values, store, prometheus):
    job = run_traffic(release, values, "website-fault", sessions=240, per_minute=480)
    wait_impressions_grow(store, 20)
    replace_pod(release, "app.kubernetes.io/component=website")
    release.wait_job(job, timeout=600)
    assert_store_components_and_prometheus_agree(release, store, prometheus)  # the new pod sent what was left


def page(browser, url: str):
    """The page, or None while the website's Service has no ready endpoint (its readiness needs the store)."""
    try:
        return browser.get(url, timeout=30)
    except requests.ConnectionError:
        return None


def test_deleting_postgresql_degrades_the_site_with_a_clear_error_then_it_resumes(release, store):
    site = release.service_url("website")
    impressions = store.scalar("SELECT count(*) FROM impressions")
    store.dispose()
    with requests.Session() as browser:
        assert browser.post(f"{site}/signin", data={"user_id": "1"}, timeout=30).status_code == 200
        release.cluster.kubectl("delete", "pod", "-n", release.namespace, "-l",
                                "app.kubernetes.io/component=database", "--wait=false")
        outage, deadline = None, time.monotonic() + 120
        while outage is None and time.monotonic() < deadline:
            answer = page(browser, f"{site}/")
            if answer is not None and answer.status_code == 503:
                outage = answer
            time.sleep(0.5)
        assert outage is not None, "the site never answered 503 while its event store was gone"
        assert "The event store is unavailable right now" in outage.text
        deadline = time.monotonic() + 240
        while (answer := page(browser, f"{site}/")) is None or answer.status_code != 200:
            assert time.monotonic() < deadline, "the site did not resume after PostgreSQL came back"
            time.sleep(1)
        assert 'data-testid="rec-row"' in answer.text
    deadline = time.monotonic() + 60
    while True:  # from the host, through the Service, once its endpoint is back
        try:
            assert store.scalar("SELECT count(*) FROM impressions") > impressions  # kept on the PV, new rows written
            break
        except sa.exc.OperationalError:
            assert time.monotonic() < deadline, "PostgreSQL's Service did not answer the host again"
            time.sleep(1)


def test_uninstall_leaves_nothing(release, chart_namespace):
    release.helm("uninstall", RELEASE, timeout=300)  # helm 3.6 has no --wait here: wait for the pods below
    deadline = time.monotonic() + 120
    while release.pods() and time.monotonic() < deadline:
        time.sleep(2)
    # Kubernetes keeps a StatefulSet's claims (the event store's data) by design; the MovieLens claim is the test's.
    assert release.objects() == [f"PersistentVolumeClaim/data-{release.fullname}-postgresql-0",
                                 "PersistentVolumeClaim/movielens"]
    assert release.helm("list", "-q", "--all").stdout.strip() == ""

