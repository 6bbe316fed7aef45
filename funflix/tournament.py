"""``funflix tournament``: the two-stage flow the ranking teams use, on the simulated users.

Several candidate rankers are trained and interleaved against production (pairwise team draft,
always-valid preference test per candidate at alpha / candidates); the weak ones are dropped as
soon as that test allows; the best finalist is then A/B-tested against production for CTR (the
business metric) with the always-valid mSPRT. Users are the simulated MovieLens users on the
rankers' real lists through the click model the site's simulators use (calibrated on production).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    from funflix.models.variants import POPULARITY, VARIANTS

    names = [*VARIANTS, POPULARITY]
    parser = subparsers.add_parser("tournament", help="interleave candidate rankers, then A/B-test the best",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("--production", default="control", choices=names, help="production ranker (default control)")
    parser.add_argument("--candidates", nargs="+", default=[n for n in names if n != "control"], choices=names,
                        metavar="NAME", help=f"at least 4 of {', '.join(names)} (default: all but production)")
    parser.add_argument("--batch", type=int, default=100, help="users per candidate per round (default 100)")
    parser.add_argument("--max-users", type=int, default=20000,
                        help="interleaving budget per candidate; undecided candidates are dropped (default 20000)")
    parser.add_argument("--ab-batch", type=int, default=200, help="users per A/B round (default 200)")
    parser.add_argument("--ab-max-users", type=int, default=200000, help="A/B budget (default 200000)")
    parser.add_argument("--visits", type=int, default=3, help="visits per simulated user (default 3)")
    parser.add_argument("--alpha", type=float, default=0.05, help="familywise false-positive rate (default 0.05)")
    parser.add_argument("--quick", action="store_true", help="small, fast model configs (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def _check(args) -> None:
    if len(set(args.candidates)) < 4:
        raise ValueError("a tournament needs at least 4 different candidates")
    if args.production in args.candidates:
        raise ValueError(f"production {args.production!r} cannot also be a candidate")
    for flag in ("batch", "max_users", "ab_batch", "ab_max_users", "visits"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1")
    if args.ab_batch < 2:
        raise ValueError("--ab-batch must be >= 2 (users are split between the arms)")
    if not 0 < args.alpha < 1:
        raise ValueError("--alpha must be in (0, 1)")


def run(args: argparse.Namespace) -> int:
    _check(args)
    import numpy as np
    from tqdm import tqdm

    from funflix.models.pipeline import prepare
    from funflix.models.variants import train_rankers
    from funflix.simulation.click_calibration import ROW_SIZE, arm_lists, calibrate
    from funflix.simulation.interleaving_offline import pair_outcomes
    from funflix.simulation.tastes import Tastes
    from funflix.simulation.tournament import ab_stage, best_finalist, interleaving_stage

    say = (lambda *a, **k: None) if args.json else (lambda *a, **k: print(*a, **k, flush=True))
    candidates = list(dict.fromkeys(args.candidates))
    prepared = prepare()
    rankers = train_rankers(prepared, [args.production, *candidates], progress=not args.json,
                            quick=args.quick)
    tastes = Tastes.from_split(prepared.split, prepared.movies)
    model, calibration = calibrate(tastes, rankers, baseline=args.production)
    lists = {name: arm_lists(rec, tastes.user_ids, ROW_SIZE) for name, rec in rankers.items()}
    pairs = {name: pair_outcomes(model, lists[args.production], lists[name])
             for name in tqdm(candidates, desc="interleaved lists", unit="candidate", disable=args.json, file=sys.stderr)}
    rng = np.random.default_rng(args.seed)
    say(f"stage 1: interleaving {len(candidates)} candidates against {args.production} "
        f"(always-valid preference test at alpha {args.alpha:g}/{len(candidates)} each, {args.batch} users per round)")

    shown = {}

    def report(state):
        """A line when a candidate is decided, and every 20 rounds."""
        statuses = {name: s["status"] for name, s in state.items()}
        shown["rounds"] = shown.get("rounds", 0) + 1
        if statuses == shown.get("statuses") and shown["rounds"] % 20:
            return
        shown["statuses"] = statuses
        say(f"  round {shown['rounds']}: " + "; ".join(f"{name} {s['share']:.0%} [{s['interval'][0]:.0%}, {s['interval'][1]:.0%}] "
                             f"{s['status'] if s['status'] != 'running' else ''}".rstrip()
                             for name, s in state.items()))

    scored, rounds = interleaving_stage(pairs, args.production, args.batch, args.max_users, args.visits, rng,
                                        args.alpha, report)
    best = best_finalist(scored)
    interleaving_users = sum(c.users for c in scored)
    for c in scored:
        say(f"  {c.name:<26} {c.status:<24} after {c.users:,} users")
    ab = {}
    if best is None:
        say(f"no candidate is preferred over {args.production}: nothing to A/B-test")
    else:
        say(f"stage 2: A/B test of {best} against {args.production} on CTR (always-valid mSPRT)")
        ab = ab_stage(pairs[best], args.ab_batch, args.ab_max_users, args.visits, rng, args.alpha)
        low, high = ab["difference_interval"]
        say(f"  {ab['decision']} after {ab['users']:,} users: CTR {args.production} {ab['ctr'][0]:.4f}, "
            f"{best} {ab['ctr'][1]:.4f}, difference in [{100 * low:+.2f}, {100 * high:+.2f}] pp")
    say(f"users: interleaving {interleaving_users:,} over {len(candidates)} candidates, A/B {ab.get('users', 0):,}; "
        f"click model expects CTR " + ", ".join(f"{n} {calibration.expected_ctr[n]:.4f}" for n in rankers))
    if args.json:
        print(json.dumps({"production": args.production, "best": best, "interleaving_users": interleaving_users,
                          "candidates": [vars(c) for c in scored], "rounds": len(rounds), "ab": ab,
                          "expected_ctr": calibration.expected_ctr}))
    return 0
