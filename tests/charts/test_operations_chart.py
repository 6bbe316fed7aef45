"""The chart's experiment operations: the controller (``funflix k8s watch``) with only the rights it
needs, and the retraining CronJob (``funflix train --publish``)."""

from __future__ import annotations

import pytest

from funflix import k8s

from .manifests import env_of, find

CONTROLLER = ["controller.enabled=true", "controller.steps=[0.5,0.8,1]", "controller.dwell=300",
              "controller.prometheusUrl=http://prometheus:9090", "controller.plannedPerArm=925"]


def rendered(*sets: str) -> list[dict]:
    return k8s.documents(k8s.render(k8s.load_values(sets=list(sets))))


def test_nothing_of_it_is_rendered_by_default(default_docs):
    kinds = {d["kind"] for d in default_docs}
    assert not kinds & {"ServiceAccount", "Role", "RoleBinding", "CronJob"}
    assert not [d for d in default_docs if d["metadata"]["name"].endswith(("-controller", "-retrain"))]


@pytest.mark.parametrize("orchestrator", ["seldon", "funflix"])
def test_the_controller_runs_the_watch_with_the_values(helm, orchestrator):
    docs = rendered(f"orchestrator={orchestrator}", *CONTROLLER)
    pod = find(docs, "Deployment", "-controller")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == [
        "funflix", "k8s", "watch", "--release=funflix", "--namespace=default", f"--orchestrator={orchestrator}",
        "--control=control", "--interval=60", "--steps=0.5,0.8,1", "--dwell=300", "--threshold=2",
        "--decision=sequential", "--planned-per-arm=925", "--prometheus-url=http://prometheus:9090",
        "--max-error-rate=0.05", "--max-p99=1", "--max-fallback=0.05"]
    assert env_of(container)["FUNFLIX_DATABASE_URL"]["secretKeyRef"] == {"name": "funflix-postgresql",
                                                                          "key": "database-url"}
    assert pod["serviceAccountName"] == "funflix-controller" and pod["automountServiceAccountToken"] is True
    assert find(docs, "ServiceAccount", "-controller")["automountServiceAccountToken"] is False  # only this pod


def test_the_controller_may_patch_only_the_object_holding_the_split(helm):
    funflix = find(rendered("orchestrator=funflix", *CONTROLLER), "Role", "-controller")["rules"]
    assert funflix == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["funflix-ab-router"],
         "verbs": ["get", "patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments/status"], "resourceNames": ["funflix-ab-router"],
         "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["funflix-experiment"],
         "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]
    seldon = find(rendered(*CONTROLLER), "Role", "-controller")["rules"]
    assert seldon == [
        {"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"], "verbs": ["list"]},
        {"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"],
         "resourceNames": ["funflix"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]
    assert not any("secrets" in rule["resources"] or "*" in rule["verbs"] for rule in funflix + seldon)
    binding = find(rendered(*CONTROLLER), "RoleBinding", "-controller")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "funflix-controller"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "funflix-controller", "namespace": "default"}]


def test_the_names_the_role_allows_are_the_rendered_objects(helm):
    docs = rendered("orchestrator=funflix", *CONTROLLER)
    names = {name for rule in find(docs, "Role", "-controller")["rules"] for name in rule.get("resourceNames", [])}
    assert names == {find(docs, "Deployment", "-ab-router")["metadata"]["name"],
                     find(docs, "ConfigMap", "-experiment")["metadata"]["name"]}
    seldon = rendered(*CONTROLLER)
    assert {n for r in find(seldon, "Role", "-controller")["rules"] for n in r.get("resourceNames", [])} == \
        {find(seldon, "SeldonDeployment")["metadata"]["name"]}


def test_retraining_publishes_new_versions_into_the_claim_on_a_schedule(helm):
    docs = rendered("models.existingClaim=funflix-models", "retrain.enabled=true", "retrain.schedule=15 2 * * *",
                    "retrain.args=[--quick]", "movielens.root=/data/movielens", "movielens.existingClaim=ml")
    cron = find(docs, "CronJob", "-retrain")
    assert cron["apiVersion"] == "batch/v1" and cron["spec"]["schedule"] == "15 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["funflix", "train", "--publish", "--models-dir", "/mnt/models",
                                    "--arms", "challenger", "--quick"]
    env = env_of(container)
    assert env["MLFLOW_TRACKING_URI"] == "file:///mnt/models/mlruns" and env["MLFLOW_ALLOW_FILE_STORE"] == "true"
    assert env["FUNFLIX_SHARED_MOVIELENS"] == "/data/movielens"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert not mounts["models"].get("readOnly") and mounts["movielens"]["readOnly"] is True
    assert {v["name"]: v for v in pod["volumes"]}["models"]["persistentVolumeClaim"] == {"claimName": "funflix-models"}
    older = k8s.documents(k8s.render(k8s.load_values(sets=["models.existingClaim=m", "retrain.enabled=true"]),
                                     kube_version="1.20"))
    assert find(older, "CronJob")["apiVersion"] == "batch/v1beta1"  # before 1.21 (the test cluster's 1.20.2)
    tracked = find(rendered("models.existingClaim=m", "retrain.enabled=true",
                            "retrain.mlflowTrackingUri=http://mlflow:5000"), "CronJob")
    env = env_of(tracked["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and "MLFLOW_ALLOW_FILE_STORE" not in env


def test_arm_names_cannot_take_the_new_objects_names(helm):
    with pytest.raises(ValueError, match="would collide with the chart's own controller objects"):
        rendered("orchestrator=funflix", "experiment.arms[1].name=controller")
