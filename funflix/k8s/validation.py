"""Offline validation of the rendered chart: helm lint, strict core schemas, the Seldon CRD, label values.

Core kinds are checked with ``kubernetes-validate`` (strict: unknown fields rejected) and the
SeldonDeployment against the real Seldon Core CRD's ``openAPIV3Schema``, turned into a JSON
Schema that rejects unknown fields too. :func:`validate` with ``server=True`` also runs every
document through a live API server (:mod:`funflix.k8s.server`).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import yaml

from funflix.paths import REPO_ROOT

from .chart import KUBE_VERSION, documents, helm_binary, lint, render
from .graph import experiment_mismatches

CRD_NAME = "seldondeployments.machinelearning.seldon.io.v1.17.1.yaml"
DEFAULT_CRD = REPO_ROOT.parent / "shared" / "seldon" / CRD_NAME
# The CRD as Seldon's operator chart installs it (a Helm template: render the chart at v1.17.1). The
# controller-gen base file (operator/config/crd/bases/) is not it: a real API server refuses that one.
CRD_SOURCE = ("helm template of SeldonIO/seldon-core v1.17.1 helm-charts/seldon-core-operator, file "
              "templates/customresourcedefinition_v1_seldondeployments.machinelearning.seldon.io.yaml")
SELDON_API = "machinelearning.seldon.io/v1"
NO_SCHEMA_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PodMonitor"),
                   ("monitoring.coreos.com/v1", "PrometheusRule")}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


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


def validate(values: dict, crd_path: str | Path | None = None, kube_version: str = KUBE_VERSION,
             release: str = "funflix", namespace: str = "default", server: bool = False,
             kubeconfig: str | None = None, manifests: str | Path | None = None) -> dict:
    """Lint, render and check every document; the report says what was checked and how.

    ``server``: also send each document to the API server of ``kubeconfig`` with ``--dry-run=server``.
    ``manifests``: check the documents of this file instead of the rendered chart (no lint, no
    experiment check: those are the chart's).
    """
    from .server import server_errors

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
