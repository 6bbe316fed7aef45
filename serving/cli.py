"""``funflix up``: run the local stack (components, gateway, website, Prometheus) until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import time

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up", help="start the local stack: Seldon components, gateway, website, Prometheus",
        description="Start the A/B graph (router and one model component per arm, as seldon-core-microservice "
                    "processes), the gateway with Seldon's REST API, the website and Prometheus; wait until all "
                    "are healthy, print their URLs, and stop everything on Ctrl-C. Logs go to <home>/logs/.")
    parser.add_argument("--config",
                        help="values.yaml with the experiment section (default: charts/funflix/values.yaml)")
    parser.add_argument("--models-root", help="trained artifacts (default: <home>/models)")
    add_port_arguments(parser)
    parser.add_argument("--model-workers", type=int, default=2, help="gunicorn workers per arm (default 2)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds the gateway waits for a component before answering 503 (default 2)")
    parser.add_argument("--database-url", help="the website's event store (default: SQLite under <home>/website)")
    parser.add_argument("--no-train", action="store_true",
                        help="fail instead of training the arms first when they have no trained model")
    parser.add_argument("--no-website", action="store_true", help="do not start the website")
    parser.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    parser.set_defaults(func=run_up)


def add_port_arguments(parser: argparse.ArgumentParser) -> None:
    """The local stack's listening ports (``funflix up`` and ``funflix demo``)."""
    parser.add_argument("--gateway-port", type=int, default=8000, help="unified endpoint port (default 8000)")
    parser.add_argument("--website-port", type=int, default=5000, help="website port (default 5000)")
    parser.add_argument("--prometheus-port", type=int, default=9090, help="Prometheus port (default 9090)")
    parser.add_argument("--component-port", type=int, default=9000,
                        help="REST port of the router; arm i gets this + 1 + i (default 9000)")
    parser.add_argument("--metrics-port", type=int, default=6000,
                        help="metrics port of the router; arm i gets this + 1 + i (default 6000)")


def port_settings(args: argparse.Namespace) -> dict[str, int]:
    """:class:`~funflix.serving.stack.LocalStack` keyword arguments from :func:`add_port_arguments`."""
    return {name: getattr(args, name) for name in
            ("gateway_port", "website_port", "prometheus_port", "component_port", "metrics_port")}


def run_up(args: argparse.Namespace) -> int:
    from funflix.serving.stack import LocalStack

    if args.model_workers < 1 or args.timeout <= 0:
        raise ValueError("--model-workers must be >= 1 and --timeout > 0")
    stack = LocalStack(config_path=args.config, models_root=args.models_root, **port_settings(args),
                       website=not args.no_website, prometheus=not args.no_prometheus,
                       model_workers=args.model_workers, timeout=args.timeout, database_url=args.database_url)
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C and `kill` stop the stack cleanly, also when
        signal.signal(signum, _interrupt)  # started from a script that ignores SIGINT in the background
    if not args.no_train:
        _train_missing(stack)
    log.info("starting the local stack (logs in %s)", stack.log_dir)
    try:
        stack.start()
    except RuntimeError as exc:  # a process that would not start: its log tail says why
        log.error("%s", exc)
        return 1
    try:
        width = max(len(name) for name in stack.urls())
        for name, url in stack.urls().items():
            print(f"{name:<{width}}  {url}", flush=True)
        print(f"experiment {stack.config.name!r}: {stack.config.routing} routing over "
              + ", ".join(f"{arm.name} {arm.split:.0%}" for arm in stack.config.arms)
              + "; Ctrl-C stops everything", flush=True)
        down: set[str] = set()
        while True:
            time.sleep(1.0)
            for name, process in stack.processes.items():
                if not process.running and name not in down:
                    down.add(name)
                    log.error("%s exited; see %s", name, process.log_path)
    finally:
        stack.stop()


def _train_missing(stack) -> None:
    """On a fresh machine: train the arms served as "latest" that have no trained model yet."""
    from funflix.cli import UsageError, build_parser
    from funflix.models.artifacts import LATEST

    missing = [arm.model for arm in stack.config.arms
               if arm.version == "latest" and not (stack.models_root / arm.model / LATEST).is_file()]
    if not missing:
        return
    log.info("no trained model for %s in %s: running `funflix train` first", ", ".join(missing), stack.models_root)
    train = build_parser().parse_args(["train", "--arms", *missing, "--models-dir", str(stack.models_root)])
    if train.func(train):
        raise UsageError("`funflix train` failed; see the messages above")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
