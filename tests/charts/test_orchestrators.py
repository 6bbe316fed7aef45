"""One chart, two orchestrators: the SeldonDeployment and the Funflix Deployments start the same processes."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import yaml

from funflix import k8s
from funflix.k8s.graph import GRAPH_NODE_LABEL, component_processes

from .manifests import env_of, find

THREE_ARMS = ["experiment.arms[1].version=v7", "experiment.arms[2].name=features-arm",
              "experiment.arms[2].model=challenger", "experiment.arms[2].split=0.2", "experiment.arms[0].split=0.4",
              "experiment.arms[1].split=0.4", "experiment.routing=thompson", "router.seed=7",
              "models.existingClaim=funflix-models", "seldon.metricsPort=6100", "model.workers=3"]


def rendered(orchestrator: str, sets=()) -> list[dict]:
    return k8s.documents(k8s.render(k8s.load_values(sets=[f"orchestrator={orchestrator}", *sets])))


INTERLEAVING = ["experiment.design=interleaving"]


@pytest.mark.parametrize("sets", [[], THREE_ARMS, INTERLEAVING], ids=["defaults", "three-arms", "interleaving"])
def test_both_orchestrators_start_the_same_component_processes(helm, sets):
    """Same containers, images, commands, environment (the operator's included) and graph parameters."""
    seldon = [asdict(p) for p in component_processes(rendered("seldon", sets))]
    funflix = [asdict(p) for p in component_processes(rendered("funflix", sets))]
    assert [p["name"] for p in seldon] == [p["name"] for p in funflix]
    for mine, theirs in zip(funflix, seldon):
        assert mine == theirs, mine["name"]
    if sets == INTERLEAVING:  # the team-draft combiner is the root, over the same two arms
        assert [p["name"] for p in seldon] == ["interleaver", "control", "challenger"]
        assert [p["env"]["SERVICE_TYPE"] for p in seldon] == ["COMBINER", "MODEL", "MODEL"]
        assert seldon[0]["command"] == ("seldon-core-microservice",
                                        "funflix.serving.InterleavingCombiner.InterleavingCombiner",
                                        "--service-type", "COMBINER")
        return
    routers = [p for p in seldon if p["env"]["SERVICE_TYPE"] == "ROUTER"]
    assert [p["name"] for p in routers] == ["ab-router"]
    assert routers[0]["command"] == ("seldon-core-microservice", "funflix.serving.ABRouter.ABRouter",
                                     "--service-type", "ROUTER")
    if sets:
        assert {p["name"]: p["value"] for p in routers[0]["parameters"]}["split"] == "0.4,0.4,0.2"
        arm = next(p for p in funflix if p["name"] == "features-arm")
        assert {p["name"]: p["value"] for p in arm["parameters"]}["model"] == "challenger"
        assert arm["env"]["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"] == "6100" and arm["env"]["GUNICORN_WORKERS"] == "3"


def test_the_comparison_sees_a_different_split(helm):
    seldon = component_processes(rendered("seldon"))
    funflix = component_processes(rendered("funflix", ["experiment.arms[0].split=0.6", "experiment.arms[1].split=0.4"]))
    assert seldon[0].parameters != funflix[0].parameters
    assert seldon[1:] == funflix[1:]


def test_funflix_renders_no_seldon_deployment_and_seldon_no_gateway(helm):
    funflix, seldon = rendered("funflix"), rendered("seldon")
    assert not [d for d in funflix if d["kind"] == "SeldonDeployment"]
    assert not [d for d in seldon if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-gateway")]
    assert {d["metadata"]["name"] for d in funflix if d["kind"] == "Deployment"} == {
        "funflix-gateway", "funflix-ab-router", "funflix-control", "funflix-challenger", "funflix-website"}
    interleaved = rendered("funflix", INTERLEAVING)
    assert {d["metadata"]["name"] for d in interleaved if d["kind"] == "Deployment"} == {
        "funflix-gateway", "funflix-interleaver", "funflix-control", "funflix-challenger", "funflix-website"}


@pytest.mark.parametrize("sets, nodes", [
    (THREE_ARMS, ["ab-router", "control", "challenger", "features-arm"]),
    (INTERLEAVING, ["interleaver", "control", "challenger"]),
], ids=["router", "combiner"])
def test_gateway_reaches_each_node_through_a_service_that_selects_it(helm, sets, nodes):
    docs = rendered("funflix", sets)
    gateway = find(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    targets = {}
    for arg in gateway["command"]:
        flag, _, value = arg.partition("=")
        if flag in ("--router", "--combiner"):  # the graph's root
            targets[nodes[0]] = value
        elif flag == "--child":
            name, _, address = value.partition("=")
            targets[name] = address
    assert list(targets) == nodes  # root, then child index order
    deployments = {d["metadata"]["labels"].get(GRAPH_NODE_LABEL): d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for node, address in targets.items():
        host, port = address.split(":")
        service, pod = services[host], deployments[node]["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), node
        assert deployments[node]["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        others = [n for n, d in deployments.items() if n != node and n and
                  service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert others == [], f"Service {host} also selects {others}"
        (service_port,) = service["spec"]["ports"]
        container_ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        assert int(port) == service_port["port"] and container_ports[service_port["targetPort"]] == 9000
    experiment = yaml.safe_load(find(docs, "ConfigMap", "-experiment")["data"]["values.yaml"])
    assert [arm["name"] for arm in experiment["experiment"]["arms"]] == list(targets)[1:]


def test_website_and_helm_test_use_the_gateway_service(helm):
    docs = rendered("funflix", ["gateway.port=8100"])
    service = find(docs, "Service", "-gateway")
    assert service["spec"]["ports"][0]["port"] == 8100
    url = f"http://{service['metadata']['name']}.default.svc:8100"
    assert env_of(find(docs, "Deployment", "-website")["spec"]["template"]["spec"]["containers"][0])[
        "FUNFLIX_GATEWAY_URL"] == url
    assert env_of(find(docs, "Pod")["spec"]["containers"][0])["GATEWAY_URL"] == url


def test_a_new_split_rolls_the_router_and_the_gateway(helm):
    """helm upgrade with a new split changes the router's and the gateway's pod templates (both roll)."""
    before, after = rendered("funflix"), rendered("funflix", ["experiment.arms[0].split=0.8",
                                                              "experiment.arms[1].split=0.2"])
    for suffix in ("-ab-router", "-gateway"):
        assert find(before, "Deployment", suffix)["spec"]["template"] != find(after, "Deployment", suffix)["spec"]["template"]
    for suffix in ("-control", "-challenger"):
        assert find(before, "Deployment", suffix)["spec"]["template"] == find(after, "Deployment", suffix)["spec"]["template"]


@pytest.mark.parametrize("sets", [THREE_ARMS, INTERLEAVING], ids=["ab", "interleaving"])
def test_funflix_mode_validates_and_agrees_with_the_local_stack(helm, sets):
    report = k8s.validate(k8s.load_values(sets=["orchestrator=funflix", *sets]))
    assert [d for d in report["documents"] if d["errors"]] == []
    assert report["experiment"] == {"ok": True, "mismatches": []} and report["ok"]


@pytest.mark.parametrize("arm", ["website", "gateway", "postgresql"])
def test_arm_names_that_collide_with_chart_objects_are_refused_in_funflix_mode(helm, arm):
    sets = [f"experiment.arms[1].name={arm}"]
    with pytest.raises(ValueError, match=f'arm name "{arm}" would collide'):
        rendered("funflix", sets)
    assert rendered("seldon", sets)  # graph node names only, under Seldon


def test_unknown_orchestrator_is_refused_by_the_schema(helm):
    with pytest.raises(ValueError, match='orchestrator must be one of the following: "seldon", "funflix"'):
        rendered("kubeflow")
