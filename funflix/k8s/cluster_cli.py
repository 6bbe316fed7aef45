"""``funflix k8s status/split/promote/rollback/start-experiment/watch``: the experiment on a cluster,
through the Kubernetes API (:mod:`funflix.k8s.operations`, :mod:`funflix.k8s.watch`)."""

from __future__ import annotations

import argparse
import json
import sys

def _cluster_args(parser: argparse.ArgumentParser, wait: bool = True) -> None:
    parser.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG, ~/.kube/config, "
                                                             "else the pod's service account)")
    parser.add_argument("--context", help="kubeconfig context (default: its current one)")
    parser.add_argument("--release", default="funflix", help="Helm release of the chart (default: funflix)")
    parser.add_argument("-n", "--namespace", default="default", help="namespace of the release (default: default)")
    parser.add_argument("--orchestrator", choices=["auto", "seldon", "funflix"], default="auto",
                        help="where the split lives: the SeldonDeployment or the router Deployment "
                             "(default auto: the SeldonDeployment if the release has one)")
    if wait:
        parser.add_argument("--no-wait", action="store_true", help="do not wait for the rollout")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the rollout")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _analysis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db-url", help="event store URL (SQLAlchemy; default $FUNFLIX_DATABASE_URL)")
    parser.add_argument("--control", default="control", help="control arm (default: control)")
    parser.add_argument("--decision", choices=["sequential", "fixed", "bayesian"], default="sequential",
                        help="test the verdict rests on (default: the always-valid sequential test)")
    parser.add_argument("--planned-per-arm", type=int, help="planned users per arm (the fixed test's horizon)")


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Usage mistakes as one line and exit status 2 (argparse prints its usage too)."""
    def error(message: str):
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    parser.error = error
    return parser


def _on_cluster(handler):
    """A cluster command whose API errors are one line and exit status 1 (bad arguments stay 2)."""
    def run(args) -> int:
        from .api import ApiError

        try:
            return handler(args)
        except ApiError as exc:
            print(f"funflix k8s {args.k8s_command}: error: {exc}", file=sys.stderr)
            return 1
    return run


def register_operations(commands) -> None:
    status = _one_line_errors(commands.add_parser(
        "status", help="the experiment on the cluster: arms, split, pods, versions, verdict"))
    _cluster_args(status, wait=False)
    _analysis_args(status)
    status.set_defaults(func=_on_cluster(_status_command))

    split = _one_line_errors(commands.add_parser(
        "split", help="set the traffic split: funflix k8s split control=0.8 challenger=0.2"))
    split.add_argument("shares", nargs="+", metavar="ARM=SHARE")
    _cluster_args(split)
    split.set_defaults(func=_on_cluster(_split_command), action="split")

    promote = _one_line_errors(commands.add_parser("promote", help="send all traffic to ARM"))
    promote.add_argument("arm")
    _cluster_args(promote)
    promote.set_defaults(func=_on_cluster(_split_command), action="promote")

    rollback = _one_line_errors(commands.add_parser("rollback", help="send all traffic to the control arm"))
    rollback.add_argument("--control", default=None, help="control arm (default: the router's first child)")
    _cluster_args(rollback)
    rollback.set_defaults(func=_on_cluster(_split_command), action="rollback")

    start = _one_line_errors(commands.add_parser(
        "start-experiment", help="a new experiment against the promoted model: new salt, "
                                                         "the challenger on VERSION, an even split"))
    start.add_argument("--challenger", required=True, metavar="VERSION", help="artifact version the challenger serves")
    start.add_argument("--challenger-arm", help="arm that serves it (default: the router's second child)")
    start.add_argument("--control-version", metavar="VERSION",
                       help="version control serves (needed when the promoted arm serves 'latest')")
    start.add_argument("--salt", help="the new experiment's salt (default: derived from the old one and the time)")
    _cluster_args(start)
    start.set_defaults(func=_on_cluster(_start_command))

    watch = _one_line_errors(commands.add_parser(
        "watch", help="read the verdict every interval and ramp, roll back or freeze"))
    _cluster_args(watch)
    _analysis_args(watch)
    watch.add_argument("--interval", type=float, default=60.0, help="seconds between readings (default 60)")
    watch.add_argument("--steps", default="0.5,0.75,1",
                       help="the winner's share at each ramp step (default 0.5,0.75,1)")
    watch.add_argument("--dwell", type=float, default=600.0, help="minimum seconds at a step (default 600)")
    watch.add_argument("--threshold", type=int, default=2, help="failed guardrail checks in a row before a rollback")
    watch.add_argument("--prometheus-url", help="Prometheus for the guardrails (none: not checked)")
    watch.add_argument("--max-error-rate", type=float, default=0.05, help="guardrail: gateway 5xx share (0.05)")
    watch.add_argument("--max-p99", type=float, default=1.0, help="guardrail: gateway p99 latency, seconds (1.0)")
    watch.add_argument("--max-fallback", type=float, default=0.05, help="guardrail: website fallback share (0.05)")
    watch.add_argument("--readings", type=int, help="stop after this many readings (default: run until stopped)")
    watch.set_defaults(func=_on_cluster(_watch_command))


def _target(args):
    from .api import connect
    from .target import find_target

    return find_target(connect(args.kubeconfig, args.context), args.namespace, args.release, args.orchestrator)


def _print(args, data: dict, lines: list[str]) -> None:
    print(json.dumps(data, indent=2) if args.json else "\n".join(lines))


def _described(now) -> dict:
    from dataclasses import asdict

    return dict(asdict(now), split=now.shares())


def _status_command(args) -> int:
    import os

    from .operations import deployed
    from .watch import read_verdict

    target = _target(args)
    obj = target.read()
    now = deployed(target, obj)
    ready = target.ready(obj)
    data = dict(_described(now), ready={name: {"ready": r, "desired": d} for name, (r, d) in ready.items()})
    db_url = args.db_url or os.environ.get("FUNFLIX_DATABASE_URL")
    if db_url:
        data["live"] = read_verdict(db_url, now, args.control, args.decision, args.planned_per_arm)[1]
    lines = [f"{now.orchestrator} {now.object} in {args.namespace}: {now.mode} routing, salt {now.salt}"
             f"{', FROZEN' if now.frozen else ''}"]
    for arm, share in now.shares().items():
        model = now.models.get(arm, {})
        lines.append(f"  {arm:<12} {share:>6.1%}  pods {ready[arm][0]}/{ready[arm][1]} ready  "
                     f"model {model.get('model')} {model.get('version')}")
    lines.append(f"  router       pods {ready['ab-router'][0]}/{ready['ab-router'][1]} ready")
    if now.last_operation:
        op = now.last_operation
        lines.append(f"last operation: {op['action']} at {op['at']} by {op['by']}: {op['reason']}")
    live = data.get("live")
    if live is None:
        lines.append("live CTR and verdict: give --db-url (or FUNFLIX_DATABASE_URL)")
    elif "arms" not in live:
        lines.append(f"live: {live['note']}")
    else:
        lines.append(f"live ({live['experiment']}; {live['analysed']} of {live['impressions']} impressions analysed: "
                     f"users whose arm never changed):")
        lines += [f"  {a['arm']:<12} {a['impressions']:>7} impressions {a['clicks']:>6} clicks  CTR {a['ctr']:.4f}"
                  for a in live["arms"]]
        lines.append(f"verdict: {live['verdict']['decision']} ({live['verdict']['reason']})")
    _print(args, data, lines)
    return 0


def _split_command(args) -> int:
    from .operations import all_to, deployed, parse_split, set_split

    target = _target(args)
    now = deployed(target, target.read())
    if args.action == "split":
        split, reason = parse_split(now.arms, args.shares), "set by hand"
    elif args.action == "promote":
        split, reason = all_to(now.arms, args.arm), f"{args.arm} promoted"
    else:
        control = args.control or now.arms[0]
        split, reason = all_to(now.arms, control), f"rolled back to {control}"
    after, conflicts = set_split(target, split, args.action, reason, wait=not args.no_wait, timeout=args.timeout)
    _print(args, dict(_described(after), conflicts_retried=conflicts),
           [f"{args.action}: {', '.join(f'{a}={s:g}' for a, s in after.shares().items())} "
            f"({after.orchestrator} {after.object}{', rolled out' if not args.no_wait else ''}"
            f"{f', {conflicts} conflicting write(s) retried' if conflicts else ''})"])
    return 0


def _start_command(args) -> int:
    from .operations import start_experiment

    after = start_experiment(_target(args), args.challenger, args.challenger_arm, args.salt, args.control_version,
                             wait=not args.no_wait, timeout=args.timeout)
    _print(args, _described(after), [f"experiment started: salt {after.salt}, " + ", ".join(
        f"{arm}={m['model']} {m['version']}" for arm, m in after.models.items())])
    return 0


def _watch_command(args) -> int:
    import os

    from .policy import WatchSettings
    from .watch import guardrails, watch

    try:
        steps = tuple(float(s) for s in args.steps.split(","))
    except ValueError:
        raise ValueError(f"--steps must be comma-separated shares like 0.5,0.75,1, got {args.steps!r}") from None
    settings = WatchSettings(args.control, args.interval, steps, args.dwell, args.threshold)
    if args.decision == "fixed" and args.planned_per_arm is None:
        raise ValueError("--decision fixed needs --planned-per-arm (its horizon)")
    db_url = args.db_url or os.environ.get("FUNFLIX_DATABASE_URL")
    if not db_url:
        raise ValueError("give --db-url (or FUNFLIX_DATABASE_URL): the verdict comes from the event store")
    watch(_target(args), settings, db_url, args.prometheus_url,
          guardrails(args.max_error_rate, args.max_p99, args.max_fallback), args.decision, args.planned_per_arm,
          args.readings, wait=not args.no_wait)
    return 0
