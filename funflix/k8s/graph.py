"""The graph as the chart renders it: component processes, child order, the experiment both sides read.

With ``orchestrator: seldon`` each componentSpec container runs with the environment Seldon's
operator adds to it (the graph node's parameters in ``PREDICTIVE_UNIT_PARAMETERS``, ports, ids);
with ``orchestrator: funflix`` each graph node's Deployment carries that environment itself. Both
give, per graph node, the command the kubelet runs (``$(VAR)`` expanded) and the parameters
``seldon-core-microservice`` reads, so the two renderings can be compared process by process.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

GRAPH_NODE_LABEL = "funflix.io/graph-node"
PARAMETERS_ENV = "PREDICTIVE_UNIT_PARAMETERS"
OPERATOR_METRICS_PATH = "/prometheus"  # the operator's executor.prometheus.path default
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class ComponentProcess:
    """One graph node's container: its name, image, expanded command, environment and graph parameters."""

    name: str
    image: str
    command: tuple[str, ...]
    env: dict
    parameters: tuple

    @property
    def service_type(self) -> str:
        return self.env.get("SERVICE_TYPE", "")

    @property
    def parameter_values(self) -> dict[str, str]:
        return {p["name"]: p["value"] for p in self.parameters}


def expand(text: str, env: dict) -> str:
    """``$(VAR)`` references in a container's command or args, expanded from its env as the kubelet does."""
    return VARIABLE.sub(lambda m: str(env.get(m.group(1), m.group(0))), text)


def plain_env(container: dict) -> dict:
    """A container's literal env values (references to Secrets and fields are left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def graph_nodes(graph: dict) -> dict[str, dict]:
    """Every node of a Seldon graph by name (the router and, recursively, its children)."""
    nodes = {graph["name"]: graph}
    for child in graph.get("children", []):
        nodes.update(graph_nodes(child))
    return nodes


def operator_env(sdep: dict, predictor: dict, node: dict, container: dict) -> dict:
    """The environment Seldon Core v1's operator adds to a graph node's container."""
    ports = {p.get("name"): str(p["containerPort"]) for p in container.get("ports", [])}
    return {
        "PREDICTIVE_UNIT_ID": container["name"],
        PARAMETERS_ENV: json.dumps(node.get("parameters", [])),
        "PREDICTIVE_UNIT_IMAGE": container["image"],
        "PREDICTIVE_UNIT_SERVICE_PORT": ports.get("http", "9000"),
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": ports.get("http", "9000"),
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": ports.get("grpc", "9500"),
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": ports.get("metrics", "6000"),
        "PREDICTIVE_UNIT_METRICS_ENDPOINT": OPERATOR_METRICS_PATH,
        "PREDICTOR_ID": predictor["name"],
        "SELDON_DEPLOYMENT_ID": sdep["metadata"]["name"],
    }


def _process(container: dict, env: dict) -> ComponentProcess:
    command = tuple(expand(part, env) for part in container.get("command", []) + container.get("args", []))
    parameters = tuple(json.loads(env.get(PARAMETERS_ENV, "[]")))
    normalised = {**env, PARAMETERS_ENV: json.dumps(sorted(parameters, key=json.dumps), sort_keys=True)}
    return ComponentProcess(container["name"], container["image"], command, normalised, parameters)


def _seldon_deployments(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d.get("kind") == "SeldonDeployment"]


def _node_deployments(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d.get("kind") == "Deployment"
            and GRAPH_NODE_LABEL in d["spec"]["template"]["metadata"].get("labels", {})]


def orchestrator_of(docs: list[dict]) -> str:
    """"seldon" or "funflix", from what was rendered (ValueError when it is neither, or both)."""
    seldon, funflix = bool(_seldon_deployments(docs)), bool(_node_deployments(docs))
    if seldon == funflix:
        raise ValueError("expected either one SeldonDeployment or graph-node Deployments in the rendered chart, "
                         f"found {len(_seldon_deployments(docs))} and {len(_node_deployments(docs))}")
    return "seldon" if seldon else "funflix"


def component_processes(docs: list[dict]) -> list[ComponentProcess]:
    """The graph's component processes, in the rendering's order (router first)."""
    if orchestrator_of(docs) == "seldon":
        (sdep,) = _seldon_deployments(docs)
        predictor = sdep["spec"]["predictors"][0]
        nodes = graph_nodes(predictor["graph"])
        processes = []
        for spec in predictor["componentSpecs"]:
            container = spec["spec"]["containers"][0]
            env = {**plain_env(container), **operator_env(sdep, predictor, nodes[container["name"]], container)}
            processes.append(_process(container, env))
        return processes
    return [_process(d["spec"]["template"]["spec"]["containers"][0],
                     plain_env(d["spec"]["template"]["spec"]["containers"][0])) for d in _node_deployments(docs)]


def child_order(docs: list[dict]) -> list[str]:
    """The router's children in child-index order: the graph's, or the gateway's ``--child`` arguments."""
    if orchestrator_of(docs) == "seldon":
        (sdep,) = _seldon_deployments(docs)
        return [child["name"] for child in sdep["spec"]["predictors"][0]["graph"].get("children", [])]
    gateways = [d for d in docs if d.get("kind") == "Deployment"
                and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gateway"]
    if len(gateways) != 1:
        raise ValueError(f"expected one gateway Deployment in the rendered chart, found {len(gateways)}")
    container = gateways[0]["spec"]["template"]["spec"]["containers"][0]
    return [arg.removeprefix("--child=").split("=", 1)[0] for arg in container.get("command", [])
            if arg.startswith("--child=")]


# ---- the experiment, as both sides read it

def seldon_deployment(docs: list[dict]) -> dict:
    found = [doc for doc in docs if doc.get("kind") == "SeldonDeployment"]
    if len(found) != 1:
        raise ValueError(f"expected one SeldonDeployment in the rendered chart, found {len(found)}")
    return found[0]


def rendered_experiment(docs: list[dict]) -> dict:
    """What the chart gives the graph, in either orchestrator: the root's parameters (the A/B router's, or
    the interleaving COMBINER's, which has no routing, salt or split) and the children's."""
    processes = {process.name: process for process in component_processes(docs)}
    routers = [process for process in processes.values() if process.service_type in ("ROUTER", "COMBINER")]
    if len(routers) != 1:
        raise ValueError(f"expected one ROUTER or COMBINER component in the rendered chart, found {len(routers)}")
    params = routers[0].parameter_values
    orchestrator = orchestrator_of(docs)
    if orchestrator == "seldon":
        predictor = seldon_deployment(docs)["spec"]["predictors"][0]
        injection = {e["name"]: e.get("value") for e in predictor.get("svcOrchSpec", {}).get("env", [])
                     }.get("SELDON_ENABLE_ROUTING_INJECTION")
    else:
        injection = "true"  # the Funflix gateway always injects meta.routing
    return {
        "orchestrator": orchestrator,
        "router": routers[0].name,
        "routing": params.get("mode"),
        "salt": params.get("salt"),
        "split": [float(s) for s in params.get("split", "").split(",") if s],
        "arms": [{"name": name, **(processes[name].parameter_values if name in processes else {})}
                 for name in child_order(docs)],
        "routing_injection": injection,
    }


def experiment_mismatches(values: dict, docs: list[dict]) -> list[str]:
    """Differences between the local stack's reading of ``experiment`` and the rendered graph."""
    from funflix.serving.experiment_config import parse_experiment

    config = parse_experiment(values.get("experiment"), source="values")
    graph = rendered_experiment(docs)
    expected = {
        "router": config.root_node,
        "arms": [{"name": a.name, "arm": a.name, "model": a.model, "version": a.version} for a in config.arms],
    }
    if config.design == "ab":  # an interleaving combiner has no routing, salt or split
        expected.update(routing=config.routing, salt=config.salt, split=config.splits)
    actual = dict(graph, arms=[{k: arm.get(k) for k in ("name", "arm", "model", "version")} for arm in graph["arms"]])
    return [f"{key}: local stack reads {expected[key]!r}, chart renders {actual[key]!r}"
            for key in expected if expected[key] != actual[key]]
