"""Experiment operations on the real test cluster: `funflix k8s split/promote/rollback/status/start-experiment`
and `funflix k8s watch`.

One release (``orchestrator: funflix``) serves the module, in this order: a split, a promotion and a
rollback change the router's Deployment, its annotations and Events, and real traffic through the
gateway, where only the users between the old and the new boundary change arm; a write computed from a
stale resourceVersion is refused by the API server and retried from the fresh object, so the other write
survives; then `funflix k8s watch`, run by the chart's controller pod (reading every 2 s, no dwell), in
three experiments one after another (each started with `funflix k8s start-experiment`: a new salt, the
website rolled and registering the new identity), promotes a winning challenger in steps, rolls a losing
one back at once, and leaves an A/A test alone; the three are stored and analysed apart. Their traffic is
simulated in the event store itself: closed impressions of users routed by the router's own sticky hash,
clicked at chosen rates, for the experiment the website registered (the click path through the website
is the chart test's).

The API server enforces RBAC, so the controller acts only through its Role (checked verb by verb too).
Its pod runs on the host network: this cluster's API server listens on 127.0.0.1 only and its
``kubernetes`` Service has no endpoints, so the pod gets the API server's address in its env and
otherwise uses the in-cluster configuration (its ServiceAccount's token) and the database Secret.
A SeldonDeployment (stored and schema-checked by the API server, never reconciled: Seldon's operator
cannot run here) has its router parameters patched the same way.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import numpy as np
import pytest
import requests
import sqlalchemy as sa

from funflix import cli, k8s
from funflix.k8s.api import connect, patch_safely
from funflix.k8s.operations import LAST_OPERATION, SPLIT_HISTORY, deployed
from funflix.k8s.ramp import child_for_point, user_point
from funflix.k8s.target import FunflixTarget, SeldonTarget
from funflix.website import store
from funflix.website.experiments import list_experiments

from .chart_release import Release, install_seldon_crd, movielens_claim, release_values

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RELEASE = "ops"
ARMS = ("control", "challenger")
USERS = range(1, 301)
CONTROLLER = {"enabled": True, "interval": 2, "dwell": 0, "steps": [0.5, 0.75, 1]}


@pytest.fixture(scope="module")
def target(cluster, release):
    return FunflixTarget(connect(str(cluster.kubeconfig)), release.namespace, RELEASE)


def run(cluster, namespace: str, *args: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["k8s", *args, "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
                     "--release", RELEASE])
    out, err = capsys.readouterr()
    return code, out, err


def show(capsys, title: str, text: str) -> None:
    """Print what a user would see (the README quotes these runs), past pytest's capture."""
    with capsys.disabled():
        print(f"\n--- {title}\n{text.rstrip()}", flush=True)


def served_arms(release) -> dict[int, str]:
    """The arm the unified endpoint serves each of USERS (one request each)."""
    gateway = release.service_url("gateway")
    arms = {}
    with requests.Session() as http:
        for user in USERS:
            answer = http.post(f"{gateway}/api/v1.0/predictions", json={"jsonData": {"user_id": user, "k": 2}},
                               timeout=10)
            assert answer.status_code == 200, answer.text
            arms[user] = answer.json()["meta"]["tags"]["arm"]
    return arms


def router_state(release) -> tuple[dict, dict]:
    """The router Deployment's graph parameters and annotations, as the API server holds them."""
    router = release.kubectl_json("get", "deployment", f"{release.fullname}-ab-router")
    env = {e["name"]: e.get("value") for e in router["spec"]["template"]["spec"]["containers"][0]["env"]}
    params = {p["name"]: p["value"] for p in json.loads(env["PREDICTIVE_UNIT_PARAMETERS"])}
    return params, router["metadata"].get("annotations", {})


def our_events(release) -> list[dict]:
    items = release.kubectl_json("get", "events")["items"]
    return sorted((e for e in items if e.get("source", {}).get("component") == "funflix-k8s"),
                  key=lambda e: e["metadata"]["creationTimestamp"])


# ---- operations by hand

def test_split_promote_and_rollback_change_the_object_and_real_traffic(cluster, release, capsys):
    salt = router_state(release)[0]["salt"]
    code, out, _ = run(cluster, release.namespace, "status", capsys=capsys)
    show(capsys, "funflix k8s status", out)
    before = served_arms(release)
    assert {arm for arm in before.values()} == set(ARMS)

    code, out, err = run(cluster, release.namespace, "split", "control=0.8", "challenger=0.2", capsys=capsys)
    assert (code, err) == (0, "") and out.startswith("split: control=0.8, challenger=0.2")
    show(capsys, "funflix k8s split control=0.8 challenger=0.2", out)
    params, notes = router_state(release)
    assert params["split"] == "0.8,0.2" and params["salt"] == salt
    assert json.loads(notes[SPLIT_HISTORY]) == {"salt": salt, "splits": [[0.5, 0.5], [0.8, 0.2]]}
    assert json.loads(notes[LAST_OPERATION])["previous"] == {"control": 0.5, "challenger": 0.5}
    after = served_arms(release)
    moved = {user for user in USERS if before[user] != after[user]}
    between = {user for user in USERS if 0.5 <= user_point(salt, user) < 0.8}
    assert moved == between and all(after[user] == "control" for user in moved)  # only those, all into control
    show(capsys, "users moved", f"{len(moved)} of {len(USERS)} users changed arm, all into control; "
                                f"{len(between)} lie between the boundaries 0.5 and 0.8")
    assert all(after[user] == ARMS[child_for_point([0.8, 0.2], user_point(salt, user))] for user in USERS)

    started = time.monotonic()
    code, out, _ = run(cluster, release.namespace, "promote", "challenger", capsys=capsys)
    show(capsys, f"funflix k8s promote challenger ({time.monotonic() - started:.1f} s)", out)
    assert code == 0 and set(served_arms(release).values()) == {"challenger"}
    started = time.monotonic()
    code, out, _ = run(cluster, release.namespace, "rollback", capsys=capsys)
    show(capsys, f"funflix k8s rollback ({time.monotonic() - started:.1f} s)", out)
    assert code == 0 and set(served_arms(release).values()) == {"control"}
    assert router_state(release)[0]["split"] == "1,0"
    reasons = [(e["reason"], e["involvedObject"]["name"]) for e in our_events(release)]
    assert reasons[-3:] == [(r, f"{release.fullname}-ab-router") for r in ("SplitChanged", "Promoted", "RolledBack")]
    config = yaml_experiment(release)
    assert [arm["split"] for arm in config["arms"]] == [1.0, 0.0]  # the gateway's ConfigMap follows

    code, out, err = run(cluster, release.namespace, "split", "control=0.7", "challenger=0.2", capsys=capsys)
    assert code == 2 and err.strip() == "funflix k8s: error: shares must sum to 1, got 0.9"
    code, _, err = run(cluster, release.namespace, "promote", "nobody", capsys=capsys)
    assert code == 2 and "unknown arm 'nobody'" in err and err.count("\n") == 1
    assert router_state(release)[0]["split"] == "1,0"  # refused before any write


def yaml_experiment(release) -> dict:
    import yaml

    config_map = release.kubectl_json("get", "configmap", f"{release.fullname}-experiment")
    return yaml.safe_load(config_map["data"]["values.yaml"])["experiment"]


def test_a_write_from_a_stale_resource_version_is_retried_not_overwritten(release, target):
    """The first read is made stale by another client's write; the API server refuses the patch computed
    from it (409), the change is recomputed from the fresh object, and the other write stays."""
    reads = []

    def read_then_someone_writes():
        obj = target.read()
        reads.append(obj["metadata"]["resourceVersion"])
        if len(reads) == 1:
            release.cluster.kubectl("annotate", "deployment", f"{release.fullname}-ab-router", "-n",
                                    release.namespace, "team.example/owner=alice")
        return obj

    _, conflicts = patch_safely(read_then_someone_writes, target.patch,
                                lambda obj: target.annotation_ops(obj, {"funflix.io/probe": "1"}))
    # the Deployment controller may write the status in between too: each conflict is one more fresh read
    assert conflicts >= 1 and len(reads) == conflicts + 1 and reads[0] != reads[1]
    notes = router_state(release)[1]
    assert notes["team.example/owner"] == "alice" and notes["funflix.io/probe"] == "1"


def test_status_reads_the_deployed_experiment(cluster, release, capsys):
    code, out, _ = run(cluster, release.namespace, "status", "--json", capsys=capsys)
    status = json.loads(out)
    assert code == 0 and status["orchestrator"] == "funflix" and status["split"] == {"control": 1.0, "challenger": 0.0}
    assert status["ready"]["control"] == {"ready": 1, "desired": 1} and status["ready"]["ab-router"]["ready"] == 1
    assert status["models"]["challenger"]["model"] == "challenger" and status["frozen"] is False


def test_a_seldon_deployments_router_parameters_are_patched(cluster, chart_namespace, capsys):
    """Seldon's operator cannot run here: the object changes as intended, the rollout is not awaited."""
    install_seldon_crd(cluster)
    docs = k8s.documents(k8s.render(k8s.load_values(), release="sd", namespace=chart_namespace))
    sdep = next(d for d in docs if d["kind"] == "SeldonDeployment")
    sdep["metadata"]["namespace"] = chart_namespace
    cluster.apply(sdep)
    code = cli.main(["k8s", "split", "control=0.3", "challenger=0.7", "--no-wait", "--kubeconfig",
                     str(cluster.kubeconfig), "--namespace", chart_namespace, "--release", "sd"])
    assert code == 0
    stored = SeldonTarget(connect(str(cluster.kubeconfig)), chart_namespace, "sd")
    now = deployed(stored, stored.read())
    assert (now.orchestrator, now.split, now.history) == ("seldon", (0.3, 0.7), ((0.5, 0.5), (0.3, 0.7)))
    graph = stored.read()["spec"]["predictors"][0]["graph"]
    assert {p["name"]: p["value"] for p in graph["parameters"]}["split"] == "0.3,0.7"


# ---- the watch: three experiments, one after another

def current_experiment(engine, salt: str, timeout: float = 120):
    """The open experiment the website registered for ``salt`` (it registers at start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            found = [e for e in list_experiments(conn) if e.salt == salt and e.ended_at is None]
        if found:
            return found[0]
        time.sleep(2)
    raise AssertionError(f"no open experiment with salt {salt} in the store")


def simulate(engine, experiment_id: str, salt: str, ctr: dict[str, float], users: int = 3000,
             per_user: int = 4, seed: int = 0) -> None:
    """Closed impressions of ``users`` users, each served by the arm the sticky router gives them at 50/50."""
    rng = np.random.default_rng(seed)
    now = store.utcnow() - timedelta(minutes=60)  # 12,000 rows 0.2 s apart: all in the past
    rows = []
    for user in range(100_000 + seed * users, 100_000 + (seed + 1) * users):
        arm = ARMS[child_for_point([0.5, 0.5], user_point(salt, user))]
        for k in range(per_user):
            clicked = bool(rng.random() < ctr[arm])
            at = now + timedelta(seconds=len(rows) * 0.2)
            rows.append({"id": uuid.uuid4().hex, "user_id": user, "arm": arm, "model_name": arm, "items": [1, 2],
                         "created_at": at, "closed_at": at, "status": store.CLICKED if clicked else store.UNCLICKED,
                         "clicked_at": at if clicked else None, "clicked_item": 1 if clicked else None,
                         "visit": f"{user}-{k}", "experiment_id": experiment_id})
    with engine.begin() as conn:
        conn.execute(store.impressions.insert(), rows)


def wait_for_split(release, wanted: str, timeout: float = 180) -> list[str]:
    """Poll the router's split until it is ``wanted``; return every split seen on the way."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        split = router_state(release)[0]["split"]
        if not seen or seen[-1] != split:
            seen.append(split)
        if split == wanted:
            return seen
        time.sleep(1)
    raise AssertionError(f"the split stayed {seen} instead of reaching {wanted}")


def start(cluster, release, capsys, version: str, *salt: str) -> str:
    """`funflix k8s start-experiment`, both arms on ``version`` (the one baked into the image)."""
    code, out, err = run(cluster, release.namespace, "start-experiment", "--challenger", version,
                         "--control-version", version, *salt, capsys=capsys)
    assert (code, err) == (0, ""), err
    return router_state(release)[0]["salt"]


@pytest.fixture(scope="module")
def engine(release):
    events = sa.create_engine(release.database_url(), pool_pre_ping=True)
    yield events
    events.dispose()


def controller_objects(cluster, release, values) -> list[dict]:
    """The chart's controller objects, its pod on the host network (see the module doc), reading every 2 s
    and ramping with no dwell."""
    docs = k8s.documents(k8s.render(k8s.merge_values(values, {"controller": CONTROLLER}), release=RELEASE,
                                    namespace=release.namespace))
    controller = [d for d in docs if d["metadata"]["name"] == f"{release.fullname}-controller"]
    assert sorted(d["kind"] for d in controller) == ["Deployment", "Role", "RoleBinding", "ServiceAccount"]
    host, port = cluster.server.removeprefix("https://").rsplit(":", 1)
    for doc in controller:
        doc["metadata"]["namespace"] = release.namespace
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            pod.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
            pod["containers"][0]["env"] += [{"name": "KUBERNETES_SERVICE_HOST", "value": host},
                                            {"name": "KUBERNETES_SERVICE_PORT", "value": port}]
    return controller


@pytest.fixture(scope="module")
def watcher(cluster, release, values):
    """`funflix k8s watch` in the chart's controller pod, as its ServiceAccount (the API server enforces
    RBAC: only what the chart's Role allows), for the rest of the module; returns a reader of its log."""
    cluster.apply(*controller_objects(cluster, release, values))
    cluster.wait_rollout(f"deployment/{release.fullname}-controller", release.namespace)

    def log() -> str:
        return cluster.kubectl("logs", "-n", release.namespace, f"deployment/{release.fullname}-controller",
                               check=False).stdout

    return log


def watch_lines(watcher, marker: str, until: str, timeout: float = 180) -> str:
    """The watch's log lines holding ``marker``, once one holds ``until`` (it logs an action after its
    rollout, so after the split the test saw)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in watcher().splitlines() if marker in line]
        if any(until in line for line in lines):
            return "\n".join(lines)
        assert time.monotonic() < deadline, f"no {until!r} in the watch's log:\n{watcher()[-2000:]}"
        time.sleep(1)


@pytest.fixture(scope="module")
def baked_version(release) -> str:
    """The challenger's artifact version baked into the image (the arms serve 'latest' of it)."""
    pod = release.pods("funflix.io/graph-node=challenger")[0]["metadata"]["name"]
    out = release.cluster.kubectl("exec", "-n", release.namespace, pod, "--", "cat",
                                  "/mnt/models/challenger/LATEST").stdout
    return out.strip()


def test_the_watch_promotes_a_winner_in_steps(cluster, release, engine, watcher, baked_version, capsys):
    run(cluster, release.namespace, "promote", "challenger", capsys=capsys)  # start-experiment needs a promoted arm
    salt = start(cluster, release, capsys, baked_version)
    experiment = current_experiment(engine, salt)
    simulate(engine, experiment.id, salt, {"control": 0.05, "challenger": 0.15}, seed=1)
    started = time.monotonic()
    seen = wait_for_split(release, "0,1")
    show(capsys, f"the watch, a winning challenger ({time.monotonic() - started:.0f} s to 100%)",
         watch_lines(watcher, "ramp:", "100% of traffic"))
    assert seen == ["0.5,0.5", "0.25,0.75", "0,1"]  # 50 -> 75 -> 100
    notes = router_state(release)[1]
    assert json.loads(notes[SPLIT_HISTORY])["splits"] == [[0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]
    ramps = [e for e in our_events(release) if e["reason"] == "Ramped"]
    assert len(ramps) >= 2 and "verdict ship for challenger" in ramps[-1]["message"]


def test_the_watch_rolls_a_loser_back_at_once(cluster, release, engine, watcher, baked_version, capsys):
    salt = start(cluster, release, capsys, baked_version)
    experiment = current_experiment(engine, salt)
    simulate(engine, experiment.id, salt, {"control": 0.15, "challenger": 0.05}, seed=2)
    started = time.monotonic()
    assert wait_for_split(release, "1,0") == ["0.5,0.5", "1,0"]
    show(capsys, f"the watch, a losing challenger ({time.monotonic() - started:.0f} s to the rollback)",
         watch_lines(watcher, "rollback:", "rollback:"))
    rollbacks = [e for e in our_events(release) if e["reason"] == "RolledBack"]
    assert "verdict stop: harm for challenger" in rollbacks[-1]["message"]


def test_the_watch_leaves_an_a_a_test_alone(cluster, release, engine, watcher, baked_version, capsys):
    # a fixed salt: these users and clicks give "keep running" (an A/A test may show a difference in 5% of
    # salts at alpha 0.05, as any valid test may)
    salt = start(cluster, release, capsys, baked_version, "--salt", "funflix-2026-11~x3")
    experiment = current_experiment(engine, salt)
    simulate(engine, experiment.id, salt, {"control": 0.1, "challenger": 0.1}, seed=3)
    time.sleep(30)  # about 15 readings
    assert router_state(release)[0]["split"] == "0.5,0.5"
    assert "hold: verdict keep running (12000 impressions analysed)" in watcher()
    code, out, _ = run(cluster, release.namespace, "status", "--db-url", release.database_url(), capsys=capsys)
    show(capsys, "funflix k8s status --db-url URL (an A/A test)", out)
    assert code == 0 and "verdict: keep running" in out


@pytest.mark.parametrize("verb, resource, allowed", [
    ("patch", "deployment/{fullname}-ab-router", True),
    ("patch", "configmap/{fullname}-experiment", True),
    ("create", "events", True),
    ("list", "pods", True),
    ("patch", "deployment/{fullname}-website", False),
    ("delete", "deployment/{fullname}-ab-router", False),
    ("get", "secrets", False),
    ("create", "pods", False),
    ("patch", "configmap/{fullname}-dashboard", False),
])
def test_the_controllers_role_allows_only_what_the_watch_needs(cluster, release, watcher, verb, resource, allowed):
    account = f"system:serviceaccount:{release.namespace}:{release.fullname}-controller"
    done = cluster.kubectl("auth", "can-i", verb, resource.format(fullname=release.fullname), "--as", account,
                           "-n", release.namespace, check=False)
    assert done.stdout.strip() == ("yes" if allowed else "no"), done.stdout + done.stderr


def test_consecutive_experiments_are_stored_and_analysed_apart(cluster, release, engine, capsys):
    with engine.connect() as conn:
        stored = list_experiments(conn)
    ours = [e for e in stored if "~" in e.salt]  # the three started by start-experiment, newest first
    assert len(ours) == 3 and len({e.id for e in ours}) == 3
    assert [e.ended_at is None for e in ours] == [True, False, False]
    for experiment in ours:
        code = cli.main(["analyze", "--db-url", release.database_url(), "--experiment", experiment.id, "--json"])
        result = json.loads(capsys.readouterr().out)
        assert code == 0 and result["experiment"]["id"] == experiment.id
        assert sum(a["impressions"] for a in result["arms"]) == 3000 * 4  # exactly its own rows


def test_the_retraining_cronjobs_job_publishes_a_new_version(cluster, cluster_images, chart_namespace, movielens_dir):
    """The CronJob as the chart renders it for this 1.20 cluster (batch/v1beta1); its jobTemplate run once
    as a Job: `funflix train --publish --quick` writes a new challenger version into the claim, moves
    LATEST to it, and logs the run to MLflow's file store beside it."""
    folder = cluster.host_path_volume(f"retrain-{chart_namespace}", size="1Gi", uid=1000, gid=1000)
    cluster.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "models", "namespace": chart_namespace},
                   "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                            "volumeName": f"retrain-{chart_namespace}", "resources": {"requests": {"storage": "1Gi"}}}})
    values = release_values(cluster_images, movielens_claim(cluster, chart_namespace, movielens_dir))
    for assignment in ("models.existingClaim=models", "retrain.enabled=true", "retrain.args=[--quick]"):
        values = k8s.apply_set(values, assignment)
    docs = k8s.documents(k8s.render(values, release="rt", namespace=chart_namespace, kube_version="1.20"))
    cron = next(d for d in docs if d["kind"] == "CronJob")
    assert cron["apiVersion"] == "batch/v1beta1"
    cron["metadata"]["namespace"] = chart_namespace
    cluster.apply(cron)  # accepted by the API server as rendered
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "retrain-now", "namespace": chart_namespace}, "spec": cron["spec"]["jobTemplate"]["spec"]}
    cluster.apply(job)
    Release(cluster, chart_namespace, "rt", folder).wait_job("retrain-now", timeout=600)
    version = (folder / "challenger" / "LATEST").read_text().strip()
    assert (folder / "challenger" / version / "arrays.npz").is_file()
    assert list((folder / "mlruns").rglob("meta.yaml")), "no MLflow run in the claim's file store"
