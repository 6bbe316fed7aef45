"""Tables and plots of the offline comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"precision": "P@{k}", "recall": "R@{k}", "map": "MAP@{k}", "ndcg": "nDCG@{k}", "auc": "AUC", "novelty": "novelty (bits)"}


def format_table(report: dict) -> str:
    """Plain-text table: one row per metric, one column per model, then the paired difference."""
    names = [report["baseline"], report["candidate"], "popularity"]
    header = f"{'metric':<15}" + "".join(f"{n:>24}" for n in names) + f"{'difference (95% CI)':>30}"
    lines = [f"Offline comparison on {report['users']} held-out users (k={report['k']})", header, "-" * len(header)]
    for metric, entry in report["metrics"].items():
        cells = "".join(f"{entry[n]['mean']:>9.4f} [{entry[n]['lo']:.3f},{entry[n]['hi']:.3f}]" for n in names)
        diff = entry["difference"]
        mark = " *" if diff["lo"] > 0 or diff["hi"] < 0 else ""
        lines.append(f"{LABELS[metric].format(k=report['k']):<15}{cells}{diff['mean']:>+12.4f} [{diff['lo']:+.4f},{diff['hi']:+.4f}]{mark}")
    lines.append(f"{'coverage':<15}" + "".join(f"{report['coverage'][n]:>24.4f}" for n in names))
    lines.append(f"* interval excludes 0; cold-start users per model: {report['cold_start_users']}")
    return "\n".join(lines)


def plot_comparison(report: dict, path: Path) -> Path:
    """Bar chart of the ranking metrics with bootstrap intervals, and the differences with theirs."""
    names = [report["baseline"], report["candidate"], "popularity"]
    metrics = list(report["metrics"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    ranking = [m for m in metrics if m not in ("auc", "novelty")]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        means = [report["metrics"][m][name]["mean"] for m in ranking]
        errors = [[means[j] - report["metrics"][m][name]["lo"] for j, m in enumerate(ranking)],
                  [report["metrics"][m][name]["hi"] - means[j] for j, m in enumerate(ranking)]]
        left.bar([j + i * width for j in range(len(ranking))], means, width, yerr=errors, capsize=3, label=name)
    left.set_xticks([j + width for j in range(len(ranking))], [LABELS[m].format(k=report["k"]) for m in ranking])
    left.set_title(f"Held-out period, {report['users']} users (95% bootstrap CI)")
    left.legend()
    diffs = [report["metrics"][m]["difference"] for m in metrics]
    rel = [d["mean"] for d in diffs]
    right.errorbar(rel, range(len(metrics)), xerr=[[d["mean"] - d["lo"] for d in diffs], [d["hi"] - d["mean"] for d in diffs]],
                   fmt="o", capsize=3)
    right.axvline(0, color="grey", lw=1)
    right.set_yticks(range(len(metrics)), [LABELS[m].format(k=report["k"]) for m in metrics])
    right.set_title(f"{report['candidate']} - {report['baseline']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
