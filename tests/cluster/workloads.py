"""Pod specs for the smoke tests, and a wait for a Service: every pod runs hardened (non-root, read-only
root, no capabilities, seccomp RuntimeDefault), as the chart's pods must."""

from __future__ import annotations

import json
import socket
import time

SERVING_PORT = 9000


def hardened_pod(containers: list[dict], uid: int, volumes: list[dict] = ()) -> dict:
    """A pod spec whose containers all get a writable /tmp and the restrictive security context."""
    for container in containers:
        container.setdefault("imagePullPolicy", "Never")
        container["securityContext"] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}}
        container.setdefault("volumeMounts", []).append({"name": "tmp", "mountPath": "/tmp"})
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
        "volumes": [{"name": "tmp", "emptyDir": {}}, *volumes],
    }


def deployment(name: str, namespace: str, pod: dict) -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def service(name: str, namespace: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": "http", "port": port, "targetPort": port}]}}


def serving_component(name: str, namespace: str, image: str, arm: str) -> dict:
    """One real Seldon MODEL component (a LightFM arm) reading the models baked into the image."""
    parameters = [{"name": "arm", "value": arm, "type": "STRING"},
                  {"name": "models_root", "value": "/mnt/models", "type": "STRING"}]
    container = {
        "name": "model", "image": image,
        "env": [{"name": "PREDICTIVE_UNIT_PARAMETERS", "value": json.dumps(parameters)},
                {"name": "PREDICTIVE_UNIT_ID", "value": arm},
                {"name": "GUNICORN_WORKERS", "value": "1"},
                {"name": "FUNFLIX_HOME", "value": "/var/lib/funflix"}],
        "ports": [{"containerPort": SERVING_PORT, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/health/status", "port": SERVING_PORT}, "periodSeconds": 2},
        "volumeMounts": [{"name": "home", "mountPath": "/var/lib/funflix"}],
    }
    return deployment(name, namespace, hardened_pod([container], 1000, [{"name": "home", "emptyDir": {}}]))


def idle_web_client(name: str, namespace: str, image: str) -> dict:
    """A funflix-web pod that only waits, for ``kubectl exec`` checks from inside the pod network."""
    container = {"name": "client", "image": image, "command": ["sleep", "infinity"]}
    return deployment(name, namespace, hardened_pod([container], 1000))


def postgres(name: str, namespace: str, image: str, claim: str, password: str) -> list[dict]:
    """PostgreSQL on a PVC (bound to a hostPath PV the test made), with its Service."""
    container = {
        "name": "postgres", "image": image,
        "env": [{"name": "POSTGRES_USER", "value": "funflix"}, {"name": "POSTGRES_DB", "value": "funflix"},
                {"name": "POSTGRES_PASSWORD", "value": password},
                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
        "ports": [{"containerPort": 5432, "name": "postgresql"}],
        "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "funflix", "-d", "funflix"]}, "periodSeconds": 2},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                         {"name": "run", "mountPath": "/var/run/postgresql"}],
    }
    pod = hardened_pod([container], 999, [{"name": "data", "persistentVolumeClaim": {"claimName": claim}},
                                          {"name": "run", "emptyDir": {}}])
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": namespace},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": claim,
                    "resources": {"requests": {"storage": "1Gi"}}}}
    svc = service(name, namespace, 5432)
    svc["spec"]["ports"] = [{"name": "postgresql", "port": 5432, "targetPort": 5432}]
    return [pvc, deployment(name, namespace, pod), svc]


def wait_reachable(cluster, namespace: str, service: str, timeout: float = 60) -> None:
    """Until the host reaches ``service``'s ClusterIP: kube-proxy programs a new endpoint a moment after
    its pod is Ready, and until then a connection is refused (the host goes through the same rules as pods)."""
    spec = json.loads(cluster.kubectl("get", "service", service, "-n", namespace, "-o", "json").stdout)["spec"]
    address = (spec["clusterIP"], spec["ports"][0]["port"])
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(address, timeout=2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"Service {service} ({address}) unreachable after {timeout:.0f} s"
            time.sleep(0.5)
