"""A/A calibration of the always-valid test as the product reads it: after every impression,
sticky users with their own CTR and activity, 100 to 10,000 users per experiment.

    .venv/bin/python benchmarks/bench_sequential_populations.py [--replications 4000] [--json]
        [--users 100 300 1000 3000 10000] [--populations ...]

Prints one row per (population, users) cell: the false-positive rate (any impression at which
the verdict would say ship or stop) with its 95% Wilson interval, next to the nominal 5%.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from tqdm import tqdm

from funflix.experiment.population_study import Population, aa_false_positive_rates
from funflix.experiment.sequential import SequentialConfig

POPULATIONS = (
    Population("same CTR 7%, 1 impression each"),
    Population("Beta CTR (mean 7%, kappa 2), Poisson activity (mean 5)", concentration=2.0, activity="poisson",
               mean_impressions=5.0),
    Population("Beta CTR (mean 7%, kappa 2), heavy-tailed activity (mean 5)", concentration=2.0, activity="heavy",
               mean_impressions=5.0),
    Population("Beta CTR (mean 15%, kappa 1), heavy-tailed activity (mean 10)", ctr=0.15, concentration=1.0,
               activity="heavy", mean_impressions=10.0),
)
USERS = (100, 300, 1000, 3000, 10000)
MIXTURE_SDS = (0.03, 0.3)
METHODS = {"plug-in": False, "floored": True}    # SequentialConfig.variance_floor: main before / after the fix


def replications_for(users: int, replications: int) -> int:
    """``replications`` up to 1,000 users; beyond, the same number of simulated users (at least 500 experiments)."""
    return replications if users <= 1000 else max(replications * 1000 // users, min(500, replications))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=2000, help="experiments per cell up to 1,000 users")
    parser.add_argument("--users", type=int, nargs="+", default=list(USERS))
    parser.add_argument("--populations", nargs="+", choices=range(len(POPULATIONS)), type=int,
                        default=list(range(len(POPULATIONS))), help="indices into the populations table")
    parser.add_argument("--mixture-sd", type=float, nargs="+", default=list(MIXTURE_SDS))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.replications < 1 or min(args.users) < 2 or min(args.mixture_sd) <= 0:
        parser.error("need --replications >= 1, at least 2 users per experiment and positive mixture SDs")
    configs = {f"{method}, tau {tau:g}": SequentialConfig(mixture_sd=tau, variance_floor=floor)
               for tau in args.mixture_sd for method, floor in METHODS.items()}
    populations = [POPULATIONS[i] for i in args.populations]
    rng = np.random.default_rng(args.seed)

    started, cells = time.perf_counter(), []
    total = len(populations) * sum(replications_for(u, args.replications) for u in args.users)
    with tqdm(total=total, desc="A/A experiments", unit="exp", file=sys.stderr) as bar:
        for population in populations:
            for users in args.users:
                cell = aa_false_positive_rates(rng, replications_for(users, args.replications), users, population,
                                               configs, bar.update)
                cells.append({"population": cell.population, "users": cell.users,
                              "impressions_per_user": round(cell.mean_impressions, 2),
                              "replications": cell.replications,
                              "false_positive_rate": {name: cell.rate(name) for name in configs},
                              "interval_95": {name: cell.interval(name) for name in configs}})
    worst = {name: max(c["false_positive_rate"][name] for c in cells) for name in configs}
    summary = {"alpha": 0.05, "look": "after every impression", "cells": cells, "worst": worst,
               "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(summary))
        return 0
    print("A/A, mSPRT read after every impression (alpha 0.05); false-positive rate [95% Wilson interval]; "
          "plug-in = main's user-level variance, floored = at least the pooled binomial variance:")
    print("| population | users | impressions/user | experiments | " + " | ".join(configs) + " |")
    print("| --- " * (4 + len(configs)) + "|")
    for c in cells:
        rates = " | ".join(f"{c['false_positive_rate'][n]:.3f} [{c['interval_95'][n][0]:.3f}, "
                           f"{c['interval_95'][n][1]:.3f}]" for n in configs)
        print(f"| {c['population']} | {c['users']:,} | {c['impressions_per_user']:.1f} | {c['replications']:,} | {rates} |")
    print("worst cell: " + ", ".join(f"{name} {rate:.3f}" for name, rate in worst.items())
          + f"; {summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
