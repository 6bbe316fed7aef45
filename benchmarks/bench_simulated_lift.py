"""What the simulated lift (+53%, the demo's headline) rests on: A/A and harm verdicts, the lift split
into fresher data and a better model, and its sensitivity to the click model's hand-set parameters.

    .venv/bin/python benchmarks/bench_simulated_lift.py [--runs 100] [--sessions 20000] [--quick]
        [--stack] [--stack-sessions 4000] [--json]

Offline (fast): the click model on the arms' real lists, experiments read by the real analysis
(``funflix.simulation.lift_checks``). ``--stack`` adds one A/A and one harm run end to end on the
real local stack (Seldon components, gateway, website, event store) with the HTTP simulator.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tqdm import tqdm

from funflix.experiment.analysis import AnalysisConfig, analyze
from funflix.models.artifacts import load_recommender
from funflix.models.config import ARMS
from funflix.models.pipeline import prepare, train_and_save
from funflix.serving.processes import free_port_block
from funflix.simulation.click_calibration import calibrate
from funflix.simulation.lift_checks import (click_probabilities, lift_decomposition, save_baselines, sensitivity,
                                            verdict_shares)
from funflix.simulation.tastes import Tastes

log = logging.getLogger("bench_simulated_lift")

#: experiments in arm order (control first): which model each arm serves
EXPERIMENTS = {
    "A/A (control model in both arms)": ("control", "control"),
    "challenger vs control (the demo)": ("control", "challenger"),
    "popularity vs control": ("control", "popularity"),
    "popularity vs the challenger model in production": ("challenger", "popularity"),
    "a random ranking vs control (a broken challenger)": ("control", "random"),
}


def offline_verdicts(model, recommenders, user_ids, runs: int, sessions: int) -> dict:
    probabilities = click_probabilities(model, recommenders)
    results = {}
    with tqdm(total=runs * len(EXPERIMENTS), desc="offline experiments", unit="exp", file=sys.stderr) as bar:
        for name, (control, challenger) in EXPERIMENTS.items():
            arms = {"control": probabilities[control], "challenger": probabilities[challenger]}
            results[name] = {"expected_ctr": {arm: float(p.mean()) for arm, p in arms.items()},
                             "verdicts": verdict_shares(arms, user_ids, runs, sessions, progress=bar.update)}
    return results


def stack_run(models_root: Path, home: Path, control: str, challenger: str, sessions: int, seed: int) -> dict:
    """One experiment on the real local stack: the arms serve ``control`` and ``challenger``'s artifacts."""
    from funflix.serving.stack import LocalStack
    from funflix.simulation.click_calibration import calibrated_click_model
    from funflix.simulation.simulate import simulate
    from funflix.website.store import load_impressions

    values = home / "values.yaml"
    home.mkdir(parents=True, exist_ok=True)
    values.write_text(yaml.safe_dump({"experiment": {
        "name": "funflix-check", "salt": f"check-{seed}", "routing": "sticky",
        "arms": [{"name": "control", "model": control, "version": "latest", "split": 0.5},
                 {"name": "challenger", "model": challenger, "version": "latest", "split": 0.5}]}}))
    base = free_port_block(6)
    with LocalStack(config_path=values, home=home, models_root=models_root, gateway_port=base, website_port=base + 1,
                    component_port=base + 2, metrics_port=free_port_block(3), prometheus=False) as stack:
        calibrated = calibrated_click_model(models_root, {"control": control, "challenger": challenger})
        report = simulate("http", sessions, site_url=stack.website_url, seed=seed, calibrated=calibrated)
        result = analyze(load_impressions(stack.database_url),
                         AnalysisConfig(expected_split={"control": 0.5, "challenger": 0.5}))
    return {"arms": {arm: {"impressions": t["impressions"], "clicks": t["clicks"], "ctr": t["ctr"]}
                     for arm, t in report["arms"].items()},
            "expected_ctr": report["click_model"]["expected_ctr"], "errors": report["errors"],
            "verdict": result.verdict.decision, "reason": result.verdict.reason}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="offline experiments per comparison")
    parser.add_argument("--sessions", type=int, default=20000, help="sessions per offline experiment (the demo's budget)")
    parser.add_argument("--quick", action="store_true", help="quick model configs (tests, smoke runs)")
    parser.add_argument("--stack", action="store_true", help="also run A/A and harm on the real local stack")
    parser.add_argument("--stack-sessions", type=int, default=4000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.sessions < 1 or args.stack_sessions < 1:
        parser.error("--runs, --sessions and --stack-sessions must be >= 1")
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    prepared = prepare()
    tastes = Tastes.from_split(prepared.split, prepared.movies)
    with tempfile.TemporaryDirectory(prefix="funflix-lift-") as tmp:
        root = Path(tmp) / "models"
        configs = [c.quick() if args.quick else c for c in ARMS.values()]
        train_and_save(prepared, configs, root, progress=False)
        save_baselines(prepared, root)
        recommenders = {name: load_recommender(name, root=root)
                        for name in ("control", "challenger", "popularity", "random")}
        model, _ = calibrate(tastes, recommenders)
        summary = {"models": "quick" if args.quick else "full", "runs": args.runs, "sessions": args.sessions,
                   "offline": offline_verdicts(model, recommenders, tastes.user_ids, args.runs, args.sessions)}
        summary["decomposition"] = lift_decomposition(prepared, tastes, quick=args.quick)
        summary["sensitivity"] = sensitivity(tastes, {a: recommenders[a] for a in ("control", "challenger")})
        if args.stack:
            summary["stack"] = {name: stack_run(root, Path(tmp) / f"stack-{i}", *arms, args.stack_sessions, seed=i)
                                for i, (name, arms) in enumerate(EXPERIMENTS.items()) if name.startswith(("A/A", "popularity vs the", "a random"))}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"Offline experiments ({summary['models']} models): {args.runs} runs of {args.sessions:,} sessions each, "
          "users re-randomised per run, read by the always-valid test after every impression")
    print("| experiment | expected CTR control / challenger | ship | stop: harm | keep running |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in summary["offline"].items():
        v, ctr = row["verdicts"], row["expected_ctr"]
        print(f"| {name} | {ctr['control']:.2%} / {ctr['challenger']:.2%} | {v.get('ship', 0):.0%} | "
              f"{v.get('stop: harm', 0):.0%} | {v.get('keep running', 0):.0%} |")
    d = summary["decomposition"]
    print("\nLift decomposition (click model calibrated on control = 7%)")
    print("| model | predicted CTR | lift over control |")
    print("| --- | --- | --- |")
    for name, ctr in d["expected_ctr"].items():
        print(f"| {name} | {ctr:.2%} | {d['lift'].get(name, 0.0):+.1%} |")
    print(f"fresher data alone {d['fresher_data']:+.1%}, model alone {d['model']:+.1%}, both {d['both']:+.1%} "
          f"(interaction {d['interaction']:+.1%})")
    print("\nSensitivity of the predicted lift (one parameter changed, intercept recalibrated)")
    print("| parameter | value | intercept | challenger lift |")
    print("| --- | --- | --- | --- |")
    for row in summary["sensitivity"]:
        print(f"| {row['parameter']} | {row['value']:g} | {row['intercept']:.2f} | {row['lift']['challenger']:+.1%} |")
    for name, run in summary.get("stack", {}).items():
        arms = ", ".join(f"{arm} {t['clicks']}/{t['impressions']} = {t['ctr']:.2%}" for arm, t in run["arms"].items())
        print(f"\nreal stack, {name}: {arms}; errors {run['errors'] or 'none'}; verdict {run['verdict']}: {run['reason']}")
    print(f"\n{summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
