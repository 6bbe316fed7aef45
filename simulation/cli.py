"""``funflix simulate``: simulated MovieLens users visiting the website (headless Chromium or plain HTTP)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from funflix.simulation.click_model import BASELINE_CTR


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {value}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="drive the website with simulated users (Selenium or HTTP)",
        description="Real MovieLens users visit the site: sign in, look at the 'Recommended for you' row, "
                    "click what their held-out tastes make them like (a cascade click model calibrated so "
                    "the control arm's lists earn the target CTR), browse, sign out. Prints sessions, "
                    "impressions and clicks per arm, errors, and the click model's expected CTRs.")
    parser.add_argument("--mode", choices=("browser", "http"), default="http",
                        help="browser: headless Chromium via Selenium; http: plain HTTP for volume (default: %(default)s)")
    parser.add_argument("--sessions", type=_positive_int, required=True, help="number of user visits")
    parser.add_argument("--workers", type=_positive_int,
                        help="parallel workers (default: 8 for http, 2 for browser, one Chromium each)")
    parser.add_argument("--site-url", default="http://127.0.0.1:5000", help="website base URL (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the users and their clicks (default: %(default)s)")
    parser.add_argument("--target-ctr", type=_probability, default=BASELINE_CTR,
                        help="control arm's expected CTR the click model is calibrated to (default: %(default)s)")
    parser.add_argument("--rate", type=float, metavar="PER_MINUTE",
                        help="pace the run: at most this many session starts per minute (default: as fast as possible)")
    parser.add_argument("--browse", type=float, metavar="P",
                        help="chance of each optional browsing step (default: 0 for http, 0.5 for browser)")
    parser.add_argument("--think", type=float, default=0.0, metavar="SECONDS",
                        help="browser mode: pause on each page (default: %(default)s)")
    parser.add_argument("--models-dir", type=Path, help="artifact root (default: $FUNFLIX_HOME/models)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run_simulate)


def run_simulate(args) -> int:
    from funflix.simulation.simulate import format_report, simulate

    if args.rate is not None and args.rate <= 0:
        raise ValueError(f"--rate must be > 0 sessions per minute, got {args.rate}")
    if args.browse is not None and not 0 <= args.browse <= 1:
        raise ValueError(f"--browse must be a probability in [0, 1], got {args.browse}")
    if args.think < 0:
        raise ValueError(f"--think must be >= 0 seconds, got {args.think}")
    report = simulate(args.mode, args.sessions, site_url=args.site_url, workers=args.workers, seed=args.seed,
                      target_ctr=args.target_ctr, models_root=args.models_dir, per_minute=args.rate,
                      browse_probability=args.browse, think=args.think, progress=not args.no_progress)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 130 if report["interrupted"] else 0
