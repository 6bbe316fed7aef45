"""Production hygiene of the rendered chart: security contexts on every pod, writable paths as volumes,
NetworkPolicies that select what they say, requests that fit a 2-core node, the Jobs, bad values refused."""

from __future__ import annotations

import json

import pytest

from funflix import k8s

from .manifests import find

EVERYTHING = ["models.existingClaim=funflix-models", "models.train.enabled=true", "traffic.enabled=true",
              "movielens.root=/data/movielens", "movielens.existingClaim=movielens", "controller.enabled=true",
              "retrain.enabled=true"]
CPU_BUDGET_MILLI = 1600  # of a 2-core node's 2000m: the rest for the kubelet, the system and a rolling update


def rendered(orchestrator: str, sets=()) -> list[dict]:
    return k8s.documents(k8s.render(k8s.load_values(sets=[f"orchestrator={orchestrator}", *sets])))


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    """Every pod template the chart renders, by "Kind/name[/node]" (SeldonDeployment: one per componentSpec)."""
    pods = {}
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            claims = [claim["metadata"]["name"] for claim in doc["spec"].get("volumeClaimTemplates", [])]
            pods[name] = {**doc["spec"]["template"], "claims": claims}
        elif doc["kind"] == "CronJob":
            pods[name] = {**doc["spec"]["jobTemplate"]["spec"]["template"], "claims": []}
        elif doc["kind"] == "Pod":
            pods[name] = doc
        elif doc["kind"] == "SeldonDeployment":
            for spec in doc["spec"]["predictors"][0]["componentSpecs"]:
                pods[f"{name}/{spec['spec']['containers'][0]['name']}"] = spec
    return pods


def containers(pod: dict) -> list[dict]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def milli_cpu(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions with In) against pod labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []) if e["operator"] == "In")


@pytest.mark.parametrize("orchestrator", ["seldon", "funflix"])
def test_every_pod_and_container_is_locked_down(helm, orchestrator):
    pods = pod_specs(rendered(orchestrator, EVERYTHING))
    assert len(pods) >= 7
    for name, pod in pods.items():
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] > 0, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        claims = pod.get("claims", [])
        for container in containers(pod):
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"], where
            writable = [m for m in container.get("volumeMounts", []) if not m.get("readOnly")]
            assert "/tmp" in [m["mountPath"] for m in writable], where
            for mount in writable:  # scratch space is an emptyDir; only data volumes are claims
                volume = volumes.get(mount["name"], {})
                assert "emptyDir" in volume or "persistentVolumeClaim" in volume or mount["name"] in claims, where


def test_postgresql_keeps_a_standard_image_and_runs_as_its_own_user(default_docs):
    pod = find(default_docs, "StatefulSet")["spec"]["template"]
    assert pod["spec"]["containers"][0]["image"] == "postgres:16-alpine"
    assert pod["spec"]["securityContext"]["runAsUser"] == 70  # postgres in the alpine image
    mounts = {m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"} <= mounts


@pytest.mark.parametrize("orchestrator", ["seldon", "funflix"])
def test_long_running_requests_fit_a_two_core_node(helm, orchestrator):
    docs = rendered(orchestrator)
    pods = {name: pod for name, pod in pod_specs(docs).items() if not name.startswith("Pod/")}
    executor = [k8s.load_values()["seldon"]["executorResources"]] if orchestrator == "seldon" else []
    requests = [c["resources"]["requests"] for pod in pods.values() for c in containers(pod)] + \
        [r["requests"] for r in executor]
    total = sum(milli_cpu(r["cpu"]) for r in requests)
    assert total <= CPU_BUDGET_MILLI, (total, requests)
    with_jobs = pod_specs(rendered(orchestrator, EVERYTHING))
    jobs = sum(milli_cpu(c["resources"]["requests"]["cpu"]) for name, pod in with_jobs.items()
               if name.startswith(("Job/", "Deployment/funflix-controller")) for c in pod["spec"]["containers"])
    assert total + jobs <= 2000  # even with the train and traffic Jobs and the controller scheduled at once


def test_network_policies_select_what_they_say(helm):
    docs = rendered("funflix", EVERYTHING)
    pods = {name: pod["metadata"]["labels"] for name, pod in pod_specs(docs).items()}
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies) == {"funflix-gateway", "funflix-components", "funflix-postgresql"}

    def chosen(selector):
        return sorted(name for name, labels in pods.items() if selects(selector, labels))

    def sources(rule):
        return sorted({name for peer in rule["from"] for name in chosen(peer["podSelector"])})

    gateway = policies["funflix-gateway"]
    assert chosen(gateway["podSelector"]) == ["Deployment/funflix-gateway"]
    assert sources(gateway["ingress"][0]) == ["Deployment/funflix-website", "Pod/funflix-test-recommendation"]
    assert gateway["ingress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert gateway["ingress"][1] == {"ports": [{"port": 6000, "protocol": "TCP"}]}  # metrics: any scraper
    components = policies["funflix-components"]
    assert chosen(components["podSelector"]) == ["Deployment/funflix-ab-router", "Deployment/funflix-challenger",
                                                 "Deployment/funflix-control"]
    assert sources(components["ingress"][0]) == ["Deployment/funflix-gateway"]
    database = policies["funflix-postgresql"]
    assert chosen(database["podSelector"]) == ["StatefulSet/funflix-postgresql"]
    assert sources(database["ingress"][0]) == ["Deployment/funflix-ab-router", "Deployment/funflix-challenger",
                                               "Deployment/funflix-control", "Deployment/funflix-controller",
                                               "Deployment/funflix-website"]
    scrapers = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    limited = {d["metadata"]["name"]: d["spec"] for d in k8s.documents(k8s.render(k8s.load_values(
        sets=["orchestrator=funflix", f"networkPolicy.metricsFrom={scrapers}"]))) if d["kind"] == "NetworkPolicy"}
    assert limited["funflix-gateway"]["ingress"][1]["from"] == scrapers
    assert limited["funflix-components"]["ingress"][1]["from"] == scrapers


def test_scrapers_reach_the_arms_ledger_counters_only_with_the_pod_monitors(helm):
    """The ledgers PodMonitor scrapes the arms' REST port: a policy opens that port of the model pods
    (never the router's) to networkPolicy.metricsFrom, and only when the monitors are rendered."""
    scrapers = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    for orchestrator in ("seldon", "funflix"):
        docs = k8s.documents(k8s.render(k8s.load_values(sets=[
            f"orchestrator={orchestrator}", "metrics.serviceMonitor.enabled=true",
            f"networkPolicy.metricsFrom={scrapers}"])))
        pods = {name: pod["metadata"]["labels"] for name, pod in pod_specs(docs).items()}
        policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
        ledgers = policies["funflix-ledgers"]
        chosen = sorted(name for name, labels in pods.items() if selects(ledgers["podSelector"], labels))
        monitor = next(d for d in docs if d["kind"] == "PodMonitor" and d["metadata"]["name"] == "funflix-ledgers")
        monitored = sorted(name for name, labels in pods.items() if selects(monitor["spec"]["selector"], labels))
        assert chosen == monitored and len(chosen) == 2, (orchestrator, chosen, monitored)  # the two arms
        assert ledgers["ingress"] == [{"ports": [{"port": 9000, "protocol": "TCP"}], "from": scrapers}]
    assert "funflix-ledgers" not in {d["metadata"]["name"] for d in k8s.documents(k8s.render(k8s.load_values()))
                                     if d["kind"] == "NetworkPolicy"}


def test_funflix_policies_cover_the_interleaving_combiner(helm):
    """design=interleaving: the combiner is a graph component like the router (only the gateway calls it)."""
    docs = rendered("funflix", ["experiment.design=interleaving"])
    pods = {name: pod["metadata"]["labels"] for name, pod in pod_specs(docs).items()}
    components = next(d["spec"] for d in docs if d["kind"] == "NetworkPolicy"
                      and d["metadata"]["name"] == "funflix-components")
    assert sorted(name for name, labels in pods.items() if selects(components["podSelector"], labels)) == [
        "Deployment/funflix-challenger", "Deployment/funflix-control", "Deployment/funflix-interleaver"]


def test_seldon_policies_select_the_operators_pods(default_docs):
    policies = {d["metadata"]["name"]: d["spec"] for d in default_docs if d["kind"] == "NetworkPolicy"}
    sdep = find(default_docs, "SeldonDeployment")["metadata"]["name"]
    assert policies["funflix-gateway"]["podSelector"] == {"matchLabels": {"seldon-app": f"{sdep}-default"}}
    assert policies["funflix-components"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"seldon-deployment-id": sdep}}}]
    assert not [d for d in k8s.documents(k8s.render(k8s.load_values(sets=["networkPolicy.enabled=false"])))
                if d["kind"] == "NetworkPolicy"]


def test_train_job_writes_every_arms_model_into_the_claim_before_install(helm):
    docs = rendered("funflix", [*EVERYTHING, "models.train.args=[--quick]", "experiment.arms[1].model=control"])
    job = find(docs, "Job", "-train")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["funflix", "train", "--models-dir", "/mnt/models", "--arms", "control", "--quick"]
    models = next(m for m in container["volumeMounts"] if m["name"] == "models")
    assert models == {"name": "models", "mountPath": "/mnt/models"}  # read-write, unlike the arms' mount
    claims = {v["name"]: v["persistentVolumeClaim"] for v in job["spec"]["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v}
    assert claims["models"] == {"claimName": "funflix-models"}
    assert {"name": "FUNFLIX_SHARED_MOVIELENS", "value": "/data/movielens"} in container["env"]


def test_traffic_job_drives_the_website_service_with_the_values(helm):
    docs = rendered("funflix", [*EVERYTHING, "traffic.sessions=50", "traffic.mode=browser", "traffic.ratePerMinute=30"])
    job = find(docs, "Job", "-traffic-1")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    service = find(docs, "Service", "-website")
    site = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert command[:2] == ["funflix", "simulate"]
    assert {"--mode=browser", "--sessions=50", "--rate=30", f"--site-url={site}", "--json"} <= set(command)
    wait = job["spec"]["template"]["spec"]["initContainers"][0]["command"][-1]
    assert f"{site}/readyz" in wait
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert json.loads(env["FUNFLIX_EXPERIMENT_JSON"]) == k8s.load_values()["experiment"]  # no values.yaml in a pod
    assert not [a for a in find(rendered("funflix", ["traffic.enabled=true"]), "Job")["spec"]["template"]["spec"]
                ["containers"][0]["command"] if a.startswith("--rate")]
    upgraded = k8s.documents(k8s.render(k8s.load_values(sets=["traffic.enabled=true"]), release="funflix"))
    assert find(upgraded, "Job")["metadata"]["name"] == "funflix-traffic-1"  # revision 1 under helm template


@pytest.mark.parametrize("sets, message", [
    (["podSecurityContext.runAsNonRoot=false"], "podSecurityContext.runAsNonRoot: podSecurityContext.runAsNonRoot does not match: true"),
    (["podSecurityContext.runAsUser=0"], "podSecurityContext.runAsUser: Must be greater than or equal to 1"),
    (["containerSecurityContext.allowPrivilegeEscalation=true"], "containerSecurityContext.allowPrivilegeEscalation"),
    (["containerSecurityContext.capabilities.drop=[NET_RAW]"], "containerSecurityContext.capabilities.drop"),
    (["containerSecurityContext.capabilities.add=[NET_ADMIN]"], "containerSecurityContext.capabilities.add"),
    (["gateway.port=70000"], "gateway.port: Must be less than or equal to 65535"),
    (["gateway.image=seldon"], "gateway.image: gateway.image must be one of the following"),
    (["traffic.mode=selenium"], "traffic.mode: traffic.mode must be one of the following"),
    (["traffic.sessions=0"], "traffic.sessions: Must be greater than or equal to 1"),
    (["traffic.targetCtr=1.5"], "traffic.targetCtr"),
    (["image.serving.repository="], "image.serving.repository: String length must be greater than or equal to 1"),
    (["metrics.prometheusRule.window=five"], "metrics.prometheusRule.window: Does not match pattern"),
    (["movielens.root=relative/path"], "movielens.root: Does not match pattern"),
    (["models.train.enabled=true"], "models.train.enabled: set models.existingClaim"),
    (["traffic.enabled=true", "website.enabled=false"], "traffic.enabled: the traffic Job drives the website"),
    (["movielens.existingClaim=ml"], "movielens.existingClaim: set movielens.root"),
    (["retrain.enabled=true"], "retrain.enabled: set models.existingClaim"),
    (["controller.enabled=true", "postgresql.enabled=false", "website.enabled=false", "model.sharedLedger=false"],
     "controller.enabled: set postgresql.enabled=true"),
    (["controller.enabled=true", "experiment.design=interleaving"],
     "controller.enabled: the controller ramps an A/B split, and experiment.design interleaving has none"),
    (["controller.steps=[0.5,1.5]"], "controller.steps.1: Must be less than or equal to 1"),
    (["controller.decision=peek"], "controller.decision: controller.decision must be one of the following"),
    (["controller.threshold=0"], "controller.threshold: Must be greater than or equal to 1"),
])
def test_bad_values_are_refused_before_anything_is_applied(helm, sets, message):
    with pytest.raises(ValueError) as refused:
        k8s.render(k8s.load_values(sets=sets))
    assert message in str(refused.value)

