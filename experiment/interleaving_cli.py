"""``funflix analyze`` for the interleaving design (``experiment.design: interleaving`` or ``--design``)."""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)


def configured_design(path=None) -> str:
    """The design in charts/funflix/values.yaml ("ab" without a readable config)."""
    try:
        from funflix.serving.experiment_config import load_experiment

        return load_experiment(path).design
    except (ImportError, OSError, ValueError) as exc:
        log.info("no experiment config (%s); assuming the A/B design", exc)
        return "ab"


def read_store(db_url: str | None, experiment: str | None = None):
    """The interleaved impressions of one experiment (``experiment``: id or name, default the current one)
    in the event store at ``db_url`` (default: the local SQLite)."""
    from funflix.website import store
    from funflix.website.experiments import find_experiment

    from .cli import read_event_store

    def read():
        engine = store.open_existing(db_url)
        try:
            with engine.execution_options(readonly=True).connect() as conn:
                record = find_experiment(conn, experiment)
                return store.read_interleaved(conn, record.id if record else None)
        finally:
            engine.dispose()

    return read_event_store(db_url, read)


def analyze_interleaving_command(args) -> int:
    from funflix import paths

    from .interleaving import InterleavingConfig, analyze_interleaving
    from .interleaving_report import summary_lines, write_interleaving_report

    if args.csv is not None:
        raise ValueError("the interleaving analysis needs each shown item's team: read the event store (--db-url)")
    if args.decision == "bayesian":
        raise ValueError("--decision bayesian is for the A/B design; interleaving decides by sequential or fixed")
    if args.planned_users is not None and args.planned_users <= 0:
        raise ValueError(f"--planned-users must be positive, got {args.planned_users}")
    if args.decision == "fixed" and not args.planned_users:
        raise ValueError("--decision fixed needs --planned-users (the interleaving plan's size)")
    config = InterleavingConfig(alpha=args.alpha, decision=args.decision, planned_users=args.planned_users,
                                control=args.control or "control")
    result = analyze_interleaving(read_store(args.db_url, args.experiment), config)
    report_path = None
    if args.report is not None:
        from datetime import datetime, timezone

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        report_path = write_interleaving_report(result, args.report or paths.sub("reports") / f"interleaving-{stamp}.html")
    if args.json:
        data = result.to_dict()
        data.pop("path")
        print(json.dumps({"design": "interleaving", **data, "report": str(report_path) if report_path else None}))
        return 0
    for line in summary_lines(result, config.challenger):
        print(line)
    if report_path:
        print(f"report: {report_path}")
    return 0
