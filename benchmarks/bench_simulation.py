"""Simulated traffic, side by side in one run: sessions/min of the HTTP simulator and the Selenium bot
against the whole local stack, and the online CTR per arm beside the click model's expectations.

    .venv/bin/python benchmarks/bench_simulation.py            # ~4 min: full models, whole local stack
    .venv/bin/python benchmarks/bench_simulation.py --http-sessions 1000 --browser-sessions 60 --json

Both modes drive the same stack (router, both arms, gateway, website under gunicorn; no Prometheus)
with the same calibrated click model; every session is a real MovieLens user who signs in, sees the
"Recommended for you" row, maybe clicks, and signs out (the bot also goes back and browses genres).
Targets: http >= 3,000 sessions/min, browser >= 100 sessions/min, on this machine's cores (the
stack, the simulator and Chromium share them). CPU ms per session are read from /proc for each
stack process group, the simulator process and its Chromium browsers; "CPU-bound" divides the
machine's CPU by that cost: the rate the run could reach with the machine to itself.

CTR: "online" is clicks / impressions in the run; "expected" is the click model's click
probability averaged over the rows actually shown (z = standardised gap); "model" is the calibrated
expectation over every simulated user under that arm's model (control is 7% by construction).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench_serving import group_cpu_seconds

from funflix import paths
from funflix.serving.processes import free_port_block
from funflix.serving.stack import LocalStack
from funflix.simulation.click_calibration import calibrated_click_model
from funflix.simulation.simulate import simulate

log = logging.getLogger("bench_simulation")
TARGETS = {"http": 3000.0, "browser": 100.0}


def train_models(folder: Path) -> Path:
    from funflix.models.config import ARMS
    from funflix.models.pipeline import prepare, train_and_save

    log.info("training both arms into %s", folder)
    train_and_save(prepare(), list(ARMS.values()), folder, progress=False)
    return folder


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class BrowserCpu(threading.Thread):
    """Samples the CPU of this process's browsers while they live: each chromedriver child runs in its
    own process group with its Chromium, which ends with the run (a sample every 0.2 s; the last
    fraction of a second before each browser quits is missed)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            children = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())], capture_output=True,
                                      text=True).stdout.splitlines()
            for pid, command in (line.split(None, 1) for line in children):
                if command.strip() == "chromedriver":  # not the stack's processes, also children of this one
                    self.peak[int(pid)] = max(self.peak.get(int(pid), 0.0), group_cpu_seconds(int(pid)))

    def seconds(self) -> float:
        self.done.set()
        self.join()
        return sum(self.peak.values())


def measured_run(stack: LocalStack, mode: str, sessions: int, workers: int, calibrated, seed: int) -> dict:
    """One simulate() run plus the CPU milliseconds per session of every stack process group, of the
    simulator process, and (browser mode) of its Chromium browsers."""
    groups = {name: process.process.pid for name, process in stack.processes.items()}
    before = {name: group_cpu_seconds(pgid) for name, pgid in groups.items()}
    own_before = own_cpu_seconds()
    browsers = BrowserCpu()
    browsers.start()
    report = simulate(mode, sessions, site_url=stack.website_url, workers=workers, seed=seed,
                      calibrated=calibrated, progress=False)
    spent = {name: group_cpu_seconds(pgid) - before[name] for name, pgid in groups.items()}
    spent["simulator"] = own_cpu_seconds() - own_before
    spent["chromium"] = browsers.seconds()
    cpu = {name: seconds * 1000 / max(report["sessions"], 1) for name, seconds in spent.items()}
    report["cpu_ms_per_session"] = {name: round(ms, 2) for name, ms in cpu.items()}
    # What the machine's cores could sustain if the run had them to itself (idle costs included).
    report["cpu_bound_sessions_per_minute"] = round(os.cpu_count() * 60_000 / sum(cpu.values()), 1)
    log.info("%s, %d workers: %.0f sessions/min, errors %s", mode, workers, report["sessions_per_minute"],
             report["errors"] or "none")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-sessions", type=int, default=3000, help="sessions per HTTP run (default 3000)")
    parser.add_argument("--http-workers", default="8,16", help="comma-separated worker counts to try (default 8,16)")
    parser.add_argument("--browser-sessions", type=int, default=150, help="sessions of the Selenium run (default 150)")
    parser.add_argument("--browser-workers", type=int, default=2, help="browser workers (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models-root", type=Path, help="trained artifacts (default: <home>/models, else train)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-simulation-"))
    runs = []
    try:
        models_root = args.models_root or paths.home() / "models"
        if not (models_root / "control").is_dir():
            models_root = train_models(scratch / "models")
        calibrated = calibrated_click_model(models_root)
        base = free_port_block(8)
        stack = LocalStack(home=scratch / "home", models_root=models_root, gateway_port=base, website_port=base + 1,
                           component_port=base + 2, metrics_port=free_port_block(3), prometheus=False)
        with stack:
            simulate("http", 100, site_url=stack.website_url, workers=4, seed=10**6, calibrated=calibrated,
                     progress=False)  # warm-up: catalogue, model pages, connections
            for workers in (int(w) for w in args.http_workers.split(",")):
                runs.append(measured_run(stack, "http", args.http_sessions, workers, calibrated, args.seed))
            runs.append(measured_run(stack, "browser", args.browser_sessions, args.browser_workers, calibrated,
                                     args.seed + 1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    calibration = calibrated[1].to_dict()
    best = {mode: max((r for r in runs if r["mode"] == mode), key=lambda r: r["sessions_per_minute"]) for mode in TARGETS}
    machine = {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}
    report = {"machine": machine, "click_model": calibration, "runs": runs, "targets": TARGETS,
              "targets_met": {mode: best[mode]["sessions_per_minute"] >= TARGETS[mode] for mode in TARGETS}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'mode':<9}{'workers':>8}{'sessions':>9}{'seconds':>9}{'sess/min':>10}{'target':>8}{'errors':>8}"
          f"{'CPU-bound':>11}   CPU ms/session")
    for run in runs:
        cpu = run["cpu_ms_per_session"]
        print(f"{run['mode']:<9}{run['workers']:>8}{run['sessions']:>9}{run['seconds']:>9.1f}"
              f"{run['sessions_per_minute']:>10.0f}{TARGETS[run['mode']]:>8.0f}{sum(run['errors'].values()):>8}"
              f"{run['cpu_bound_sessions_per_minute']:>11.0f}   "
              + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if v >= 0.05) + f" (total {sum(cpu.values()):.1f})")
    print("CPU-bound: sessions/min the machine's cores would sustain at the run's CPU cost per session, "
          "if nothing else ran")
    print()
    print(f"{'run':<14}{'arm':<12}{'impr.':>7}{'clicks':>7}{'online':>8}{'expected':>10}{'z':>6}{'model':>8}")
    for run in runs:
        label = f"{run['mode']} x{run['workers']}"
        for arm, tally in run["arms"].items():
            print(f"{label:<14}{arm:<12}{tally['impressions']:>7}{tally['clicks']:>7}{tally['ctr']:>8.2%}"
                  f"{tally['expected_ctr']:>10.2%}{tally['z']:>6.1f}{calibration['expected_ctr'][arm]:>8.2%}")
    lift = ", ".join(f"{arm} {value:+.1%}" for arm, value in calibration["expected_lift"].items())
    print(f"\nclick model: control calibrated to {calibration['target_ctr']:.0%} (intercept {calibration['intercept']:.3f}); "
          f"expected lift {lift}")
    print("targets: " + ", ".join(f"{mode} {'met' if met else 'MISSED'} ({best[mode]['sessions_per_minute']:.0f}/min "
                                  f"vs {TARGETS[mode]:.0f})" for mode, met in report["targets_met"].items()))
    print(f"{machine['cpus']} CPUs, 1-minute load average {load_before:.1f} before, "
          f"{machine['load_average_after']:.1f} after (other work on the machine lowers every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
