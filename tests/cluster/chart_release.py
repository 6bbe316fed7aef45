"""The chart as a Helm release on the test cluster, and what the cluster tests read back from it.

- :class:`Release`: ``helm`` against the cluster's kubeconfig in one namespace; the values of a test
  release (``orchestrator: funflix``, the images built here, PostgreSQL on a hostPath PV, MovieLens
  from a claim); the release's objects, pods, Service addresses and Secrets.
- :class:`EventStore`: the release's PostgreSQL, reached from the host at its Service's ClusterIP.
- :class:`OutsidePrometheus`: Debian's Prometheus as a host process scraping the pods the API server
  lists (``prometheus.io/*`` annotations), with the chart's recording rules loaded.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa
import yaml

from funflix import k8s
from funflix.serving.processes import ManagedProcess, free_port_block

SELDON_CRD = k8s.DEFAULT_CRD
MOVIELENS = "ml-latest-small"
POSTGRES_UID = 999  # postgres in the PostgreSQL image built here (Debian's package)
WEB_UID = 1000  # funflix in the two Funflix images
SCRAPE_SECONDS = 2
SCRAPE_INTERVAL = f"{SCRAPE_SECONDS}s"
NAMESPACED_KINDS = ("deployments,statefulsets,replicasets,pods,services,endpoints,configmaps,secrets,"
                    "persistentvolumeclaims,networkpolicies,jobs,serviceaccounts")


def install_seldon_crd(cluster) -> None:
    """Seldon Core v1.17.1's CRD, server-side applied (client-side apply would exceed the annotation limit)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(SELDON_CRD), timeout=120)
    for _ in range(10):  # right after the apply, `wait` can fail once instead of waiting (NOTES.md)
        done = cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                               "crd/seldondeployments.machinelearning.seldon.io", check=False, timeout=90)
        if done.returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"Seldon's CRD did not become Established: {done.stderr}")


class Release:
    """One Helm release of the chart in its own namespace."""

    def __init__(self, cluster, namespace: str, name: str, workdir: Path):
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.workdir = workdir
        self.fullname = f"{name}-funflix"

    def helm(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        command = [k8s.helm_binary(), *args, "--kubeconfig", str(self.cluster.kubeconfig), "--namespace",
                   self.namespace]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done

    def values_file(self, values: dict, label: str) -> Path:
        path = self.workdir / f"values-{label}.yaml"
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        return path

    def install(self, values: dict, timeout: str = "8m") -> float:
        """``helm install --wait``; the seconds until every pod of the release was Ready."""
        started = time.monotonic()
        self.helm("install", self.name, str(k8s.CHART_DIR), "--values", str(self.values_file(values, "install")),
                  "--wait", f"--timeout={timeout}", timeout=660)
        return time.monotonic() - started

    def upgrade(self, values: dict, label: str, timeout: str = "6m") -> float:
        started = time.monotonic()
        self.helm("upgrade", self.name, str(k8s.CHART_DIR), "--values", str(self.values_file(values, label)),
                  "--wait", f"--timeout={timeout}", timeout=600)
        return time.monotonic() - started

    # ---- reading the cluster
    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.cluster.kubectl(*args, "-n", self.namespace, "-o", "json", timeout=60).stdout)

    def objects(self) -> list[str]:
        """Every namespaced object left in the namespace, as kind/name (the API's own ones excluded)."""
        items = self.kubectl_json("get", NAMESPACED_KINDS)["items"]
        own = {"ServiceAccount/default", "ConfigMap/kube-root-ca.crt"}
        names = [f"{item['kind']}/{item['metadata']['name']}" for item in items]
        return sorted(name for name in names if name not in own and not name.startswith("Secret/default-token-"))

    def pods(self, selector: str = "") -> list[dict]:
        args = ["get", "pods"] + (["-l", selector] if selector else [])
        return self.kubectl_json(*args)["items"]

    def service_url(self, suffix: str, port_name: str = "http") -> str:
        service = self.kubectl_json("get", "service", f"{self.fullname}-{suffix}")
        port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == port_name)
        return f"http://{service['spec']['clusterIP']}:{port}"

    def secret(self, suffix: str, key: str) -> str:
        secret = self.kubectl_json("get", "secret", f"{self.fullname}-{suffix}")
        return base64.b64decode(secret["data"][key]).decode()

    def database_url(self) -> str:
        """The event store's URL from the host: the chart's own Secret, its Service name made a ClusterIP."""
        url = self.secret("postgresql", "database-url")
        address = self.service_url("postgresql", "postgresql").removeprefix("http://")
        return url.replace(f"@{self.fullname}-postgresql:5432", f"@{address}")

    def wait_job(self, name: str, timeout: int = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.kubectl_json("get", "job", name)
            conditions = {c["type"]: c["status"] for c in job.get("status", {}).get("conditions", [])}
            if conditions.get("Complete") == "True":
                return job
            if conditions.get("Failed") == "True":
                logs = self.cluster.kubectl("logs", "-n", self.namespace, f"job/{name}", "--all-containers",
                                            check=False).stdout
                raise AssertionError(f"job {name} failed:\n{logs[-3000:]}")
            time.sleep(2)
        raise AssertionError(f"job {name} did not complete in {timeout} s")


def release_values(images: dict[str, str], movielens_claim: str) -> dict:
    """The chart's values.yaml with what this cluster needs: orchestrator funflix, local images, PostgreSQL
    built here (uid 999), MovieLens from a claim, one worker per arm (2 cores for the whole cluster)."""
    return k8s.load_values(sets=[
        "orchestrator=funflix",
        f"image.serving.repository={images['funflix-serving'].split(':')[0]}",
        f"image.web.repository={images['funflix-web'].split(':')[0]}",
        "image.pullPolicy=Never",
        f"postgresql.image={images['funflix-postgres']}",
        f"postgresql.podSecurityContext.runAsUser={POSTGRES_UID}",
        f"postgresql.podSecurityContext.runAsGroup={POSTGRES_UID}",
        f"postgresql.podSecurityContext.fsGroup={POSTGRES_UID}",
        "postgresql.storage=1Gi",
        "movielens.root=/data/movielens", f"movielens.existingClaim={movielens_claim}",
        "model.workers=1", "model.readinessInitialDelaySeconds=2", "website.workers=2",
        # a loaded 2-core machine answers in over 0.5 s at times: only a fault may make a fallback row here
        "website.gatewayTimeout=2",
        "metrics.prometheusRule.enabled=false",
        "traffic.sessions=120", "traffic.workers=4", "traffic.seed=11",
        # rows of visits cut short by a fault get their reward 0 from the housekeeper within a minute
        "website.extraEnv[0].name=FUNFLIX_IMPRESSION_TTL", "website.extraEnv[0].value='30'",
    ])


def movielens_claim(cluster, namespace: str, source: Path) -> str:
    """A hostPath PV holding ml-latest-small (readable by the images' user), bound to a claim in ``namespace``."""
    name = f"movielens-{namespace}"
    folder = cluster.host_path_volume(name, size="1Gi", uid=WEB_UID, gid=WEB_UID)
    target = folder / MOVIELENS
    if not (target / "ratings.csv").is_file():
        shutil.copytree(source, target, dirs_exist_ok=True)
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "movielens", "namespace": namespace},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": name,
                      "resources": {"requests": {"storage": "1Gi"}}}}
    cluster.apply(claim)
    return "movielens"


class EventStore:
    """Counts read straight from the release's PostgreSQL."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, pool_pre_ping=True)

    def scalar(self, query: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(query), params).scalar()

    def rows(self, query: str, **params) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))

    def closed_by_arm(self) -> dict[str, tuple[int, int]]:
        """Per arm: impressions that ended (clicked or not) and clicked impressions."""
        rows = self.rows("SELECT arm, count(*), sum(CASE WHEN status = 'clicked' THEN 1 ELSE 0 END) "
                         "FROM impressions WHERE arm IS NOT NULL AND status IN ('clicked', 'unclicked') GROUP BY arm")
        return {arm: (int(n), int(clicked)) for arm, n, clicked in rows}

    def sent_by_arm(self) -> dict[str, tuple[int, int]]:
        """Per arm: feedback posted from the outbox, and how many of them were reward 1."""
        rows = self.rows("SELECT arm, count(*), sum(reward) FROM feedback WHERE state = 'sent' GROUP BY arm")
        return {arm: (int(n), int(clicks)) for arm, n, clicks in rows}

    def pending(self) -> int:
        """Impressions still open plus feedback not yet sent."""
        return int(self.scalar("SELECT (SELECT count(*) FROM impressions WHERE status = 'open') + "
                               "(SELECT count(*) FROM feedback WHERE state <> 'sent')"))

    def wait_drained(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            time.sleep(1)
        assert self.pending() == 0, "impressions still open or feedback unsent after the traffic ended"

    def dispose(self) -> None:
        self.engine.dispose()


class OutsidePrometheus:
    """Debian's Prometheus on the host, scraping the namespace's pods as the API server lists them.

    Debian builds Prometheus without the Kubernetes service discovery (``kubernetes_sd_configs`` is an
    unknown field there), so a thread here does its part: it lists the pods through the API server every
    second and writes the annotated ones (``prometheus.io/scrape``, ``port``, ``path``) as ``file_sd``
    targets with the labels kubernetes_sd's relabelling would give (namespace, pod, component), plus
    each arm's ``/ledger-metrics`` on its http port (the impression and click counters), as the chart's
    ledgers PodMonitor does.
    """

    def __init__(self, cluster, namespace: str, home: Path, rules: dict | None = None):
        self.cluster = cluster
        self.namespace = namespace
        self.home = home
        self.port = free_port_block(1)
        self.targets = home / "targets.json"
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [{
                "job_name": "funflix-pods",
                "file_sd_configs": [{"files": [str(self.targets)], "refresh_interval": "1s"}],
            }],
        }
        home.mkdir(parents=True, exist_ok=True)
        self.write_targets()
        if rules:
            (home / "rules.yaml").write_text(yaml.safe_dump(rules))
            config["rule_files"] = [str(home / "rules.yaml")]
        (home / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            "prometheus", ["/usr/bin/prometheus", f"--config.file={home / 'prometheus.yml'}",
                           f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            home / "prometheus.log", f"{self.url}/-/ready")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._discover, daemon=True)

    def write_targets(self) -> None:
        pods = json.loads(self.cluster.kubectl("get", "pods", "-n", self.namespace, "-o", "json").stdout)["items"]
        groups = []
        for pod in pods:
            notes, ip = pod["metadata"].get("annotations", {}), pod["status"].get("podIP")
            if notes.get("prometheus.io/scrape") != "true" or not ip or pod["status"].get("phase") != "Running":
                continue
            labels = pod["metadata"].get("labels", {})
            component = labels.get("app.kubernetes.io/component", "")
            target = {"namespace": self.namespace, "pod": pod["metadata"]["name"], "component": component}
            groups.append({"targets": [f"{ip}:{notes['prometheus.io/port']}"],
                           "labels": {**target, "__metrics_path__": notes.get("prometheus.io/path", "/metrics")}})
            if component == "model":  # the arms' ledger counters, as the chart's ledgers PodMonitor scrapes them
                port = next(p["containerPort"] for p in pod["spec"]["containers"][0]["ports"] if p["name"] == "http")
                groups.append({"targets": [f"{ip}:{port}"], "labels": {**target, "__metrics_path__": "/ledger-metrics"}})
        staged = self.targets.with_suffix(".tmp")
        staged.write_text(json.dumps(groups))
        staged.replace(self.targets)

    def _discover(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.write_targets()
            except (RuntimeError, subprocess.TimeoutExpired, ValueError):
                pass  # the API server is busy: keep the last targets

    def start(self) -> "OutsidePrometheus":
        self.process.start()
        self.process.wait_healthy(time.monotonic() + 60)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.process.stop()

    def query(self, expr: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def by_label(self, expr: str, label: str = "model_name") -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def targets_up(self) -> dict[str, str]:
        """Active targets by pod: their health."""
        answer = requests.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        return {t["labels"].get("pod", t["scrapeUrl"]): t["health"] for t in answer}

    def wait_equal(self, expr: str, expected: dict[str, float], timeout: float = 30,
                   label: str = "model_name") -> dict[str, float]:
        """Poll ``expr`` (by ``label``) until it equals ``expected`` to 1e-12 (for ratios, which do not only
        grow); return the last value."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.by_label(expr, label)
            if set(seen) == set(expected) and all(abs(seen[k] - v) <= 1e-12 for k, v in expected.items()):
                return seen
            if time.monotonic() > deadline:
                return seen
            time.sleep(1)

    def rule_errors(self) -> list[str]:
        """Recording rules whose last evaluation failed, with Prometheus's error."""
        groups = requests.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return [f"{r['name']}: {r.get('lastError')}" for g in groups for r in g["rules"] if r.get("health") != "ok"]

    def wait_for(self, expr: str, expected: dict[str, float], timeout: float = 60) -> dict[str, float]:
        """Poll ``expr`` (by model_name) until it reaches ``expected`` (counters only grow); return the last value."""
        deadline = time.monotonic() + timeout
        seen = self.by_label(expr)
        while any(seen.get(k, 0.0) < v for k, v in expected.items()) and time.monotonic() < deadline:
            time.sleep(1)
            seen = self.by_label(expr)
        return seen
