"""The real cluster end to end: node up, images loaded, a hardened pod of each image running, Services
reached by their DNS names from another pod, PostgreSQL on a hostPath PV, and a teardown that leaves the
host exactly as it was."""

from __future__ import annotations

import json
import secrets

import pytest

from funflix.cluster import images

from . import workloads

# The first test that asks for the images builds any that are out of date (`make test` built them already).
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(2400)]


def in_pod(cluster, namespace: str, deployment: str, code: str) -> str:
    """Run Python inside the deployment's pod (``kubectl exec``) and return what it printed."""
    return cluster.kubectl("exec", "-n", namespace, f"deployment/{deployment}", "--", "python3", "-c", code,
                           timeout=60).stdout


def http_get_json(url: str) -> str:
    return f"import json, urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"


def test_node_is_ready_and_kubectl_works(cluster):
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["localhost"]
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == "v1.20.2"


def test_images_are_in_the_nodes_containerd(cluster, cluster_images):
    names = cluster.image_names()
    for reference in cluster_images.values():
        assert f"docker.io/library/{reference}" in names


def test_serving_component_answers_by_service_name_from_another_pod(cluster, cluster_images, namespace):
    serving, web = cluster_images["funflix-serving"], cluster_images["funflix-web"]
    cluster.apply(workloads.serving_component("control", namespace, serving, "control"),
                  workloads.service("control", namespace, workloads.SERVING_PORT),
                  workloads.idle_web_client("client", namespace, web))
    cluster.wait_rollout("deployment/control", namespace)
    cluster.wait_rollout("deployment/client", namespace)
    workloads.wait_reachable(cluster, namespace, "control")

    baked = dict(pair.split("=") for pair in
                 json.loads(images.archive("funflix-serving").with_suffix(".json").read_text())["models"].split(","))
    for name in ("control", f"control.{namespace}", f"control.{namespace}.svc.cluster.local"):
        answer = json.loads(in_pod(cluster, namespace, "client",
                                   http_get_json(f"http://{name}:{workloads.SERVING_PORT}/api/v1.0/health/status")))
        status = answer["jsonData"]
        assert status["arm"] == "control"
        assert status["version"] == baked["control"]

    predict = ("import json, urllib.request; body = json.dumps({'jsonData': {'user_id': 42, 'k': 5}}).encode(); "
               f"r = urllib.request.Request('http://control:{workloads.SERVING_PORT}/api/v1.0/predictions', body, "
               "{'Content-Type': 'application/json'}); print(urllib.request.urlopen(r, timeout=10).read().decode())")
    answer = json.loads(in_pod(cluster, namespace, "client", predict))
    assert len(answer["jsonData"]["items"]) == 5


def test_web_image_has_the_browser_bot_tools(cluster, cluster_images, namespace):
    cluster.apply(workloads.idle_web_client("client", namespace, cluster_images["funflix-web"]))
    cluster.wait_rollout("deployment/client", namespace)
    versions = cluster.kubectl("exec", "-n", namespace, "deployment/client", "--", "sh", "-c",
                               "chromium --version && chromedriver --version && funflix --help >/dev/null && id -u",
                               timeout=60).stdout.splitlines()
    assert versions[0].startswith("Chromium ")
    assert versions[1].startswith("ChromeDriver ")
    assert versions[2] == "1000"


def test_postgres_on_a_host_path_volume_keeps_data_across_pods(cluster, cluster_images, namespace):
    claim, password = f"pg-{namespace}", secrets.token_hex(8)
    folder = cluster.host_path_volume(claim, uid=999, gid=999)
    cluster.apply(*workloads.postgres("postgres", namespace, cluster_images["funflix-postgres"], claim, password),
                  workloads.idle_web_client("client", namespace, cluster_images["funflix-web"]))
    cluster.wait_rollout("deployment/postgres", namespace)
    cluster.wait_rollout("deployment/client", namespace)
    query = ("import psycopg2, sys; c = psycopg2.connect(host='postgres', user='funflix', dbname='funflix', "
             f"password={password!r}, connect_timeout=10); c.autocommit = True; cur = c.cursor(); "
             "[cur.execute(s) for s in sys.argv[1:]]; print(cur.fetchall() if cur.description else 'ok')")

    def sql(*statements: str) -> str:
        return cluster.kubectl("exec", "-n", namespace, "deployment/client", "--", "python3", "-c", query,
                               *statements, timeout=60).stdout.strip()

    workloads.wait_reachable(cluster, namespace, "postgres")
    assert sql("CREATE TABLE kept (n int)", "INSERT INTO kept VALUES (7)") == "ok"
    assert (folder / "pgdata" / "PG_VERSION").is_file()
    cluster.kubectl("delete", "pod", "-n", namespace, "-l", "app.kubernetes.io/name=postgres", "--wait=true")
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod", "-l", "app.kubernetes.io/name=postgres",
                    "--timeout=120s", timeout=130)
    workloads.wait_reachable(cluster, namespace, "postgres")
    assert sql("SELECT n FROM kept") == "[(7,)]"
