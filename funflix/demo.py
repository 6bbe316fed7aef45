"""``funflix demo``: the whole experiment on one machine, as a user would run it step by step.

Data and both models, the offline comparison, the local stack (Seldon components, gateway,
website, Prometheus), HTTP traffic in rounds until the always-valid sequential test decides
(or a session budget runs out), a short Selenium run, the verdict and the report, then the
two-stage flow (``funflix tournament``: interleaving prunes candidate rankers, the best is A/B
tested) on simulated users. The site then stays up for browsing until Ctrl-C (``--exit`` stops
instead, for scripts).
"""

from __future__ import annotations

import argparse
import time


def register(subparsers) -> None:
    from funflix.serving.cli import add_port_arguments

    parser = subparsers.add_parser("demo", help="run the whole experiment locally and leave the site up",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("--round", type=int, default=2000, help="HTTP sessions per round (default: %(default)s)")
    parser.add_argument("--max-sessions", type=int, default=20000,
                        help="stop the HTTP traffic here even without a decision (default: %(default)s)")
    parser.add_argument("--browser-sessions", type=int, default=30, help="Selenium sessions (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated users (default: %(default)s)")
    parser.add_argument("--tournament-max-users", type=int, default=20000,
                        help="interleaving budget per candidate of the closing tournament; 0 skips it "
                             "(default: %(default)s)")
    parser.add_argument("--exit", action="store_true", help="stop the stack at the end instead of waiting for Ctrl-C")
    parser.add_argument("--skip-train", action="store_true", help="reuse the latest trained models")
    add_port_arguments(parser)
    parser.set_defaults(func=run)


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def _run_cli(argv: list[str]) -> None:
    """Run one ``funflix`` subcommand as the user would; stop the demo if it fails."""
    from funflix.cli import UsageError, build_parser

    args = build_parser().parse_args(argv)
    if args.func(args):
        raise UsageError(f"`funflix {' '.join(argv)}` failed")


def _verdict(db_url: str):
    """The analysis's current verdict (of the current experiment) and the number of impressions it rests on."""
    from funflix.experiment import analysis_config
    from funflix.experiment.store_analysis import StoreAnalysis
    from funflix.website import store
    from funflix.website.experiments import find_experiment

    engine = store.open_existing(db_url)
    try:
        with engine.execution_options(readonly=True).connect() as conn:
            current = find_experiment(conn)
            result = StoreAnalysis().analyze(conn, analysis_config(), experiment_id=current.id if current else None)
    finally:
        engine.dispose()
    return result.verdict, sum(a.impressions for a in result.arms)


def offline_vs_online(verdict, precision: dict[str, float]) -> str:
    """Does the arm with the better offline precision@10 win online? Say so, and why not if not."""
    best = max(precision, key=precision.get)
    offline = ", ".join(f"{arm} {value:.4f}" for arm, value in precision.items())
    line = f"Offline, {best} ranks better (P@10 {offline}). Online: {verdict.decision}"
    if verdict.decision == "ship" and verdict.arm == best or verdict.decision == "stop: harm" and verdict.arm != best:
        return f"{line}. They agree: the better offline ranking earned more clicks from users with real tastes."
    if verdict.decision in ("keep running", "inconclusive"):
        return (f"{line}. No online winner yet: the always-valid test has not excluded a zero difference; "
                "run more sessions (--max-sessions) or accept that the online difference may be smaller than offline.")
    return (f"{line}. They disagree: the online verdict ({verdict.reason}) contradicts the offline ranking; "
            "offline precision counts held-out items anywhere in the list, while clicks depend on what users "
            "see first (position bias), so check the per-position click rates and the click model's calibration.")


def run(args: argparse.Namespace) -> int:
    from funflix.models.artifacts import read_metadata
    from funflix.serving.cli import port_settings
    from funflix.serving.stack import LocalStack
    from funflix.simulation.click_calibration import calibrated_click_model
    from funflix.simulation.simulate import format_report, simulate

    if args.round < 1 or args.max_sessions < args.round or args.browser_sessions < 0 or args.tournament_max_users < 0:
        raise ValueError("need --round >= 1, --max-sessions >= --round, --browser-sessions >= 0 "
                         "and --tournament-max-users >= 0")
    if not args.skip_train:
        _banner("1. MovieLens and the two models")
        _run_cli(["data"])
        _run_cli(["train", "--publish"])  # the demo serves what it just trained
    _banner("2. Offline comparison on the held-out period")
    _run_cli(["evaluate"])
    _banner("3. Local stack: Seldon router and models, gateway, website, Prometheus")
    with LocalStack(**port_settings(args)) as stack:
        for name, url in stack.urls().items():
            print(f"  {name:<12} {url}")
        _banner("4. Simulated users over HTTP until the sequential test decides")
        calibrated = calibrated_click_model(target=0.07)
        sessions, decision = 0, "keep running"
        while sessions < args.max_sessions and decision == "keep running":
            report = simulate("http", args.round, site_url=stack.website_url, seed=args.seed + sessions,
                              calibrated=calibrated)
            sessions += args.round
            verdict, impressions = _verdict(stack.database_url)
            decision = verdict.decision
            print(f"  after {sessions:,} sessions ({impressions:,} impressions): {decision}", flush=True)
        print(format_report(report))
        if args.browser_sessions:
            _banner("5. A short Selenium run in headless Chromium")
            print(format_report(simulate("browser", args.browser_sessions, site_url=stack.website_url,
                                         seed=args.seed + sessions, calibrated=calibrated)))
        _banner("6. The verdict")
        _run_cli(["analyze", "--db-url", stack.database_url, "--report"])
        precision = {arm.name: read_metadata(arm.model, arm.version, stack.models_root)["metrics"]["precision@10"]
                     for arm in stack.config.arms}
        print(offline_vs_online(_verdict(stack.database_url)[0], precision))
        if args.tournament_max_users:
            _banner("7. Two-stage flow: interleave candidate rankers, then A/B-test the best (simulated users)")
            _run_cli(["tournament", "--max-users", str(args.tournament_max_users), "--seed", str(args.seed)])
        if args.exit:
            return 0
        _banner("The site stays up: browse it, Ctrl-C to stop")
        for name, url in stack.urls().items():
            print(f"  {name:<12} {url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping the local stack", flush=True)
    return 0
