"""``funflix k8s``: render and validate the chart.

``render``, ``values`` and ``validate`` work offline (``validate --server`` asks an API server
too); the commands that run the experiment on a cluster are :mod:`funflix.k8s.cluster_cli`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .chart import documents, render, render_notes
from .cluster_cli import register_operations
from .graph import experiment_mismatches, rendered_experiment
from .validation import DEFAULT_CRD, KUBE_VERSION, validate
from .values import load_values


def _values_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--values", action="append", default=[], metavar="FILE",
                        help="values file merged over charts/funflix/values.yaml (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one value, YAML-typed, list indexes allowed: "
                             "--set experiment.arms[0].split=0.7 (repeatable)")
    parser.add_argument("--release", default="funflix", help="release name (default: funflix)")
    parser.add_argument("--namespace", default="default", help="namespace (default: default)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("k8s", help="render and validate the Helm chart; run the experiment on a cluster",
                                   description="Render and validate the Helm chart in charts/funflix offline "
                                               "(helm template, helm lint --strict, kubernetes-validate, the "
                                               "Seldon CRD schema), and with --server against a live API server; "
                                               "read, split, promote, roll back and watch the experiment on a "
                                               "cluster through the Kubernetes API.")
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
    register_operations(commands)


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

