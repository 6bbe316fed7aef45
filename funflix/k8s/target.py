"""Where a release's experiment lives on the cluster, for either orchestrator.

- ``seldon``: the SeldonDeployment; the router's parameters are ``spec.predictors[0].graph.parameters``
  and each arm's are its child's. Seldon's operator rolls the graph out and reports ``status.state``.
- ``funflix``: the router's Deployment (``funflix.io/graph-node: ab-router``), whose container carries
  the graph parameters in ``PREDICTIVE_UNIT_PARAMETERS`` as the operator would give them; each arm's
  Deployment likewise; the gateway's experiment ConfigMap and the website's ``FUNFLIX_EXPERIMENT_JSON``
  hold the same experiment for the gateway and the site.

The primary object (SeldonDeployment, or router Deployment) holds the operations' annotations and
is what their Events are about.
"""

from __future__ import annotations

import json
import time

import yaml

from funflix.serving.experiment_config import COMBINER_NODE

from .api import JSON_PATCH, ApiError, annotation_ops, call, patch_safely, pointer
from .graph import GRAPH_NODE_LABEL, PARAMETERS_ENV

SELDON = ("machinelearning.seldon.io", "v1", "seldondeployments")
ROUTER_NODE = "ab-router"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"


def _one(items: list, what: str) -> dict:
    if len(items) != 1:
        raise ApiError(f"expected one {what}, found {len(items)}")
    return items[0]


def interleaving_refused(release: str, namespace: str) -> ApiError:
    """The operations act on an A/B router's split; an interleaving experiment has none."""
    return ApiError(f"release {release} in {namespace} runs an interleaving experiment (experiment.design: "
                    "interleaving): every list holds both arms' items, so there is no split to read, change, ramp "
                    "or roll back. Read its preference with `funflix analyze --design interleaving`, then A/B-test "
                    "the preferred ranker: helm upgrade with --set experiment.design=ab")


def param_dict(parameters: list[dict]) -> dict[str, str]:
    return {p["name"]: str(p["value"]) for p in parameters}


def param_ops(base: str, parameters: list[dict], changes: dict[str, str]) -> list[dict]:
    """JSON Patch ops setting graph parameters (a list of name/value/type) at ``base``."""
    index = {p["name"]: i for i, p in enumerate(parameters)}
    ops = []
    for name, value in changes.items():
        if name in index:
            ops.append({"op": "replace", "path": f"{base}/{index[name]}/value", "value": value})
        else:
            ops.append({"op": "add", "path": f"{base}/-", "value": {"name": name, "type": "STRING", "value": value}})
    return ops


class Target:
    """One release's experiment objects in one namespace."""

    orchestrator: str

    def __init__(self, api_client, namespace: str, release: str):
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.release = release
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def plain(self, obj) -> dict:
        return obj if isinstance(obj, dict) else self.api_client.sanitize_for_serialization(obj)

    def selector(self, **labels: str) -> str:
        return ",".join(f"{k}={v}" for k, v in {INSTANCE: self.release, **labels}.items())

    def deployment(self, **labels: str) -> dict:
        found = call(self.apps.list_namespaced_deployment, self.namespace, label_selector=self.selector(**labels))
        return self.plain(_one(found.items, f"Deployment with {self.selector(**labels)} in {self.namespace}"))

    def patch_deployment(self, name: str, ops: list[dict]) -> dict:
        """A JSON Patch of Deployment ``name`` (its ApiException left to :func:`patch_safely`)."""
        return self.plain(self.apps.patch_namespaced_deployment(name, self.namespace, ops, _content_type=JSON_PATCH))

    def annotation_ops(self, obj: dict, annotations: dict[str, str]) -> list[dict]:
        return annotation_ops(obj, annotations)

    def sync_experiment(self, update, website: bool) -> None:
        """With ``website``, apply ``update`` (experiment values -> experiment values) to the website's
        ``FUNFLIX_EXPERIMENT_JSON``: it rolls, and registers the experiment it then serves."""
        if website and self.website() is not None:
            def change(deployment):
                env = deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
                index = next(i for i, e in enumerate(env) if e["name"] == "FUNFLIX_EXPERIMENT_JSON")
                return [{"op": "replace", "path": f"/spec/template/spec/containers/0/env/{index}/value",
                         "value": json.dumps(update(json.loads(env[index]["value"])))}]

            name = self.website()["metadata"]["name"]
            patch_safely(lambda: self.deployment(**{COMPONENT: "website"}),
                         lambda ops: self.patch_deployment(name, ops), change)

    def website(self) -> dict | None:
        found = call(self.apps.list_namespaced_deployment, self.namespace,
                     label_selector=self.selector(**{COMPONENT: "website"})).items
        return self.plain(found[0]) if found else None

    def _pods(self, deployment: dict) -> int:
        """Pods of ``deployment``, terminating ones included (an old pod still answers until it is gone)."""
        labels = deployment["spec"]["selector"]["matchLabels"]
        pods = call(self.core.list_namespaced_pod, self.namespace,
                    label_selector=",".join(f"{k}={v}" for k, v in labels.items())).items
        return sum(1 for pod in pods if pod.status.phase not in ("Succeeded", "Failed"))

    def wait_deployment(self, name: str, deadline: float) -> None:
        """Until every replica of Deployment ``name`` runs its newest template, is available, and no older
        pod is left."""
        while True:
            d = self.plain(call(self.apps.read_namespaced_deployment_status, name, self.namespace))
            status, want = d.get("status", {}), d["spec"].get("replicas", 1)
            if (status.get("observedGeneration", 0) >= d["metadata"]["generation"]
                    and status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
                    and status.get("availableReplicas", 0) == want and self._pods(d) == want):
                return
            if time.monotonic() > deadline:
                raise ApiError(f"Deployment {name} did not finish rolling out in time "
                               f"({status.get('updatedReplicas', 0)}/{want} updated, "
                               f"{status.get('availableReplicas', 0)} available)")
            time.sleep(1)


class FunflixTarget(Target):
    """``orchestrator: funflix``: plain Deployments behind the Funflix gateway."""

    orchestrator = "funflix"

    def read(self) -> dict:
        routers = call(self.apps.list_namespaced_deployment, self.namespace,
                       label_selector=self.selector(**{GRAPH_NODE_LABEL: ROUTER_NODE})).items
        if not routers and call(self.apps.list_namespaced_deployment, self.namespace,
                                label_selector=self.selector(**{GRAPH_NODE_LABEL: COMBINER_NODE})).items:
            raise interleaving_refused(self.release, self.namespace)
        return self.plain(_one(routers, f"Deployment with {self.selector(**{GRAPH_NODE_LABEL: ROUTER_NODE})} "
                                        f"in {self.namespace}"))

    @staticmethod
    def _env(deployment: dict) -> list[dict]:
        return deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])

    def _parameters(self, deployment: dict) -> tuple[int, list[dict]]:
        env = self._env(deployment)
        index = next((i for i, e in enumerate(env) if e["name"] == PARAMETERS_ENV), None)
        if index is None:
            raise ApiError(f"Deployment {deployment['metadata']['name']} has no {PARAMETERS_ENV}")
        return index, json.loads(env[index]["value"])

    def router_parameters(self, obj: dict) -> dict[str, str]:
        return param_dict(self._parameters(obj)[1])

    def router_ops(self, obj: dict, changes: dict[str, str]) -> list[dict]:
        """Ops changing graph parameters in a graph node's Deployment (the router's, or an arm's)."""
        index, parameters = self._parameters(obj)
        changed = [dict(p, value=changes.get(p["name"], p["value"])) for p in parameters]
        changed += [{"name": k, "type": "STRING", "value": v} for k, v in changes.items()
                    if k not in {p["name"] for p in parameters}]
        return [{"op": "replace", "path": f"/spec/template/spec/containers/0/env/{index}/value",
                 "value": json.dumps(changed)}]

    def patch(self, ops: list[dict]) -> dict:
        return self.patch_deployment(self.read()["metadata"]["name"], ops)

    def arms(self, obj: dict) -> dict[str, dict[str, str]]:
        """Each arm's graph parameters (model, version, ...), from its Deployment."""
        names = self.router_parameters(obj)["arms"].split(",")
        return {arm: param_dict(self._parameters(self.deployment(**{GRAPH_NODE_LABEL: arm}))[1]) for arm in names}

    def ready(self, obj: dict) -> dict[str, tuple[int, int]]:
        names = [ROUTER_NODE, *self.router_parameters(obj)["arms"].split(",")]
        counts = {}
        for name in names:
            d = self.deployment(**{GRAPH_NODE_LABEL: name})
            counts[name] = (d.get("status", {}).get("readyReplicas") or 0, d["spec"].get("replicas", 1))
        return counts

    def arms_ops(self, obj: dict, models: dict) -> list[dict]:
        return []  # the arms are Deployments of their own: set_arms

    def set_arms(self, models: dict) -> None:
        """Each arm of ``models`` takes its graph parameters (model, version): its Deployment rolls."""
        for arm, changes in models.items():
            def read(arm=arm):
                return self.deployment(**{GRAPH_NODE_LABEL: arm})

            name = read()["metadata"]["name"]
            patch_safely(read, lambda ops, name=name: self.patch_deployment(name, ops),
                         lambda d, changes=changes: self.router_ops(d, changes))

    def sync_experiment(self, update, website: bool) -> None:
        """The gateway's experiment ConfigMap takes ``update`` too (the gateway reads it when it starts)."""
        maps = call(self.core.list_namespaced_config_map, self.namespace,
                    label_selector=self.selector(**{COMPONENT: "gateway"})).items
        for name in [m.metadata.name for m in maps if "values.yaml" in (m.data or {})]:
            def read(name=name):
                return self.plain(call(self.core.read_namespaced_config_map, name, self.namespace))

            def patch(ops, name=name):
                return self.core.patch_namespaced_config_map(name, self.namespace, ops, _content_type=JSON_PATCH)

            def change(config_map):
                values = yaml.safe_load(config_map["data"]["values.yaml"])
                body = yaml.safe_dump({**values, "experiment": update(values["experiment"])}, sort_keys=False)
                return [{"op": "replace", "path": pointer("data", "values.yaml"), "value": body}]

            patch_safely(read, patch, change)
        super().sync_experiment(update, website)

    def wait(self, obj: dict, timeout: float, everything: bool = False) -> None:
        deadline = time.monotonic() + timeout
        names = [ROUTER_NODE] + (self.router_parameters(obj)["arms"].split(",") if everything else [])
        for name in names:
            self.wait_deployment(self.deployment(**{GRAPH_NODE_LABEL: name})["metadata"]["name"], deadline)
        if everything and self.website() is not None:
            self.wait_deployment(self.website()["metadata"]["name"], deadline)


class SeldonTarget(Target):
    """``orchestrator: seldon``: the SeldonDeployment, which Seldon Core v1's operator reconciles."""

    orchestrator = "seldon"

    def read(self) -> dict:
        found = call(self.custom.list_namespaced_custom_object, *SELDON[:2], self.namespace, SELDON[2],
                     label_selector=self.selector())
        sdep = _one(found["items"], f"SeldonDeployment of release {self.release} in {self.namespace}")
        if sdep["spec"]["predictors"][0]["graph"].get("type") == "COMBINER":
            raise interleaving_refused(self.release, self.namespace)
        return sdep

    def router_parameters(self, obj: dict) -> dict[str, str]:
        return param_dict(obj["spec"]["predictors"][0]["graph"].get("parameters", []))

    def router_ops(self, obj: dict, changes: dict[str, str]) -> list[dict]:
        return param_ops("/spec/predictors/0/graph/parameters",
                         obj["spec"]["predictors"][0]["graph"].get("parameters", []), changes)

    def patch(self, ops: list[dict]) -> dict:
        return self.custom.patch_namespaced_custom_object(*SELDON[:2], self.namespace, SELDON[2],
                                                          self.read()["metadata"]["name"], ops,
                                                          _content_type=JSON_PATCH)

    def arms(self, obj: dict) -> dict[str, dict[str, str]]:
        return {child["name"]: param_dict(child.get("parameters", []))
                for child in obj["spec"]["predictors"][0]["graph"].get("children", [])}

    def arms_ops(self, obj: dict, models: dict) -> list[dict]:
        """Ops giving each arm of ``models`` its graph parameters (model, version) in the same patch."""
        children = obj["spec"]["predictors"][0]["graph"]["children"]
        return [op for i, child in enumerate(children) if child["name"] in models
                for op in param_ops(f"/spec/predictors/0/graph/children/{i}/parameters",
                                    child.get("parameters", []), models[child["name"]])]

    def set_arms(self, models: dict) -> None:
        return None  # the arms are the SeldonDeployment's children: arms_ops

    def ready(self, obj: dict) -> dict[str, tuple[int, int]]:
        """Ready pods per graph node, from the pods the operator labels with the SeldonDeployment's id."""
        pods = call(self.core.list_namespaced_pod, self.namespace,
                    label_selector=f"seldon-deployment-id={obj['metadata']['name']}").items
        want = obj["spec"]["predictors"][0].get("replicas", 1)
        counts = {}
        for name in [ROUTER_NODE, *self.arms(obj)]:
            ready = sum(1 for pod in pods if name in {c.name for c in pod.spec.containers}
                        and any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])))
            counts[name] = (ready, want)
        return counts

    def wait(self, obj: dict, timeout: float, everything: bool = False) -> None:
        """Until Seldon's operator reports the SeldonDeployment Available again."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.read().get("status", {}).get("state")
            if state == "Available":
                return
            if time.monotonic() > deadline:
                raise ApiError(f"SeldonDeployment {obj['metadata']['name']} is not Available after {timeout:g} s "
                               f"(state {state or 'unset'}: is Seldon Core's operator running? --no-wait skips this)")
            time.sleep(2)


def find_target(api_client, namespace: str, release: str, orchestrator: str = "auto") -> Target:
    """The release's experiment target; ``auto``: its SeldonDeployment if it has one, else its router Deployment."""
    seldon = SeldonTarget(api_client, namespace, release)
    if orchestrator != "auto":
        return seldon if orchestrator == "seldon" else FunflixTarget(api_client, namespace, release)
    try:
        found = call(seldon.custom.list_namespaced_custom_object, *SELDON[:2], namespace, SELDON[2],
                     label_selector=seldon.selector())["items"]
    except ApiError as exc:
        if not str(exc).startswith("404 "):  # 404: Seldon's CRD is not installed
            raise
        found = []
    return seldon if found else FunflixTarget(api_client, namespace, release)
