"""A/A peeking study at scale: false-positive rate against the number of peeks, naive z-test
versus the always-valid mSPRT, plus the mSPRT's power and time to decision at true lifts.

    .venv/bin/python benchmarks/bench_sequential_calibration.py [--replications 20000]
        [--impressions 50000] [--peek-every 100] [--json]

Saves the figure to <FUNFLIX_HOME>/reports/sequential_calibration.png and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from tqdm import tqdm

from funflix import paths
from funflix.experiment.calibration import clustered_peeking_study, peeking_study
from funflix.experiment.design import PlanConfig, plan

BASELINE = 0.07


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20_000)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--peek-every", type=int, default=100)
    parser.add_argument("--mixture-sd", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    started = time.perf_counter()
    chunks, chunk = [], 500
    for start in tqdm(range(0, args.replications, chunk), desc="A/A replications", unit="x500", file=sys.stderr):
        chunks.append(peeking_study(rng, min(chunk, args.replications - start), args.impressions, args.peek_every,
                                    BASELINE, BASELINE, args.mixture_sd))
    looks = chunks[0].looks
    first_seq = np.concatenate([c.first_sequential for c in chunks])
    first_naive = np.concatenate([c.first_naive for c in chunks])
    final_naive = np.concatenate([c.final_naive for c in chunks])
    aa_seconds = time.perf_counter() - started

    def curve(first):
        return np.cumsum(np.bincount(first[first >= 0], minlength=len(looks))[: len(looks)]) / len(first)

    seq_curve, naive_curve = curve(first_seq), curve(first_naive)
    reps = len(first_seq)
    se = lambda p: float(np.sqrt(p * (1 - p) / reps))
    checkpoints = [k for k in (1, 10, 50, 100, 200, 500, len(looks)) if k <= len(looks)]
    summary = {
        "replications": reps, "impressions": args.impressions, "peek_every": args.peek_every,
        "peeks": len(looks), "mixture_sd": args.mixture_sd, "baseline_ctr": BASELINE,
        "false_positive_rate": {
            "msprt_any_peek": float(seq_curve[-1]), "msprt_se": se(seq_curve[-1]),
            "naive_any_peek": float(naive_curve[-1]), "naive_se": se(naive_curve[-1]),
            "naive_read_once_at_end": float(final_naive.mean()),
            "by_peeks": {str(k): {"msprt": float(seq_curve[k - 1]), "naive": float(naive_curve[k - 1])}
                         for k in checkpoints},
        },
        "aa_seconds": round(aa_seconds, 1),
    }

    # the mSPRT stays valid whatever its mixing scale tau (which only trades power between effect sizes)
    summary["false_positive_rate_by_mixture_sd"] = {
        str(tau): peeking_study(rng, 5000, 20_000, args.peek_every, BASELINE, BASELINE, tau).rejection_rate("sequential")
        for tau in (0.005, 0.01, 0.03, 0.1)}

    # users who see many impressions: the variance must be taken at the user (randomisation unit)
    summary["repeat_users"] = {}
    for heterogeneity in (1.0, 0.3):
        study = clustered_peeking_study(rng, 4000, 2000, 20, BASELINE, heterogeneity=heterogeneity,
                                        mixture_sd=args.mixture_sd)
        summary["repeat_users"][f"gamma_shape_{heterogeneity}"] = {
            "mean_design_effect": study.mean_design_effect, "msprt_user_level": study.user_level_rate,
            "msprt_impression_level": study.impression_level_rate}

    # power and time to decision of the mSPRT at true lifts, against the fixed-horizon plan
    power = {}
    for target in (0.08, 0.09, 0.11):
        fixed = plan(PlanConfig(baseline=BASELINE, target=target, sides=2, power=0.9)).primary
        horizon = 3 * fixed.total
        study = peeking_study(rng, 1000, horizon, args.peek_every, BASELINE, target, args.mixture_sd)
        decided = study.first_sequential[study.first_sequential >= 0]
        power[str(target)] = {
            "fixed_horizon_total_impressions_fleiss_cc_two_sided_power_0.9": fixed.total,
            "msprt_power_by_fixed_total": study.rejection_rate(
                "sequential", int(np.searchsorted(study.looks, fixed.total, side="right"))),
            "msprt_power_by_2x_fixed_total": study.rejection_rate(
                "sequential", int(np.searchsorted(study.looks, 2 * fixed.total, side="right"))),
            "msprt_power_by_3x_fixed_total": study.rejection_rate("sequential"),
            "msprt_median_impressions_to_decision": float(np.median(study.looks[decided])) if decided.size else None,
            "naive_any_peek_power": study.rejection_rate("naive"),
        }
    summary["power"] = power
    summary["total_seconds"] = round(time.perf_counter() - started, 1)

    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.2), dpi=120)
    axes = figure.add_subplot()
    peeks = np.arange(1, len(looks) + 1)
    axes.plot(peeks, naive_curve, color="#e50914", linewidth=2, label="naive z-test (two-sided, alpha 0.05)")
    axes.plot(peeks, seq_curve, color="#2a9d8f", linewidth=2, label=f"mSPRT, always valid (tau = {args.mixture_sd})")
    axes.axhline(0.05, color="black", linestyle="--", linewidth=0.8, label="nominal 5%")
    axes.set_xscale("log")
    axes.set_xlabel(f"number of peeks (one every {args.peek_every} impressions)")
    axes.set_ylabel("false-positive rate (A/A)")
    axes.set_title(f"A/A at CTR {BASELINE}: {reps:,} replications, {args.impressions:,} impressions each",
                   loc="left", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(frameon=False)
    figure.tight_layout()
    out = paths.sub("reports") / "sequential_calibration.png"
    figure.savefig(out)
    summary["figure"] = str(out)

    if args.json:
        print(json.dumps(summary))
    else:
        fpr = summary["false_positive_rate"]
        print(f"A/A, {reps:,} replications x {args.impressions:,} impressions, peek every {args.peek_every} "
              f"({len(looks)} peeks), CTR {BASELINE}:")
        print(f"  false-positive rate  mSPRT {fpr['msprt_any_peek']:.4f} (se {fpr['msprt_se']:.4f})   "
              f"naive z {fpr['naive_any_peek']:.4f} (se {fpr['naive_se']:.4f})   "
              f"naive read once at the end {fpr['naive_read_once_at_end']:.4f}")
        for k, row in fpr["by_peeks"].items():
            print(f"  after {k:>4} peeks: mSPRT {row['msprt']:.4f}  naive {row['naive']:.4f}")
        print("  mSPRT false-positive rate by mixing scale tau (5,000 x 20,000, same peeks): " + ", ".join(
            f"{tau}: {rate:.4f}" for tau, rate in summary["false_positive_rate_by_mixture_sd"].items()))
        for name, row in summary["repeat_users"].items():
            print(f"  A/A, 4,000 x 2,000 users with ~10 impressions each ({name}, design effect "
                  f"{row['mean_design_effect']:.2f}), peek every 20 users: mSPRT user level "
                  f"{row['msprt_user_level']:.4f}, impression level {row['msprt_impression_level']:.4f}")
        for target, row in power.items():
            print(f"  true CTR {target}: fixed plan {row['fixed_horizon_total_impressions_fleiss_cc_two_sided_power_0.9']:,} "
                  f"impressions; mSPRT power by then {row['msprt_power_by_fixed_total']:.3f}, by 2x "
                  f"{row['msprt_power_by_2x_fixed_total']:.3f}, by 3x {row['msprt_power_by_3x_fixed_total']:.3f}, "
                  f"median decision at "
                  f"{row['msprt_median_impressions_to_decision']} impressions")
        print(f"  figure: {out}   ({summary['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
