"""Combiner overhead: the unified endpoint with interleaving (gateway -> both models -> team-draft
combiner) beside plain A/B routing (gateway -> router -> one model), side by side in one run.

Both local stacks run at once on the same quick (or trained) models; wrk posts recommend requests for
MovieLens users to each unified endpoint in alternating rounds (8 connections on loopback, wrk on the
same cores); medians are reported with each process's CPU milliseconds per request.

Run: ``.venv/bin/python benchmarks/bench_interleaving_serving.py [--rounds 3] [--duration 5] [--json]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import LUA, measured, median_result, run_wrk  # noqa: E402

from funflix import paths  # noqa: E402
from funflix.models.pipeline import train_quick  # noqa: E402
from funflix.serving.experiment_config import VALUES_FILE  # noqa: E402
from funflix.serving.processes import free_port_block  # noqa: E402
from funflix.serving.stack import LocalStack  # noqa: E402

log = logging.getLogger("bench_interleaving_serving")


def stack_for(design: str, scratch: Path, models_root: Path, args) -> LocalStack:
    values = yaml.safe_load(VALUES_FILE.read_text())
    values["experiment"]["design"] = design
    config = scratch / f"values-{design}.yaml"
    config.write_text(yaml.safe_dump(values))
    base = free_port_block(6)
    return LocalStack(config_path=config, home=scratch / design, models_root=models_root, gateway_port=base,
                      component_port=base + 1, metrics_port=free_port_block(3), website=False, prometheus=False,
                      model_workers=args.model_workers, component_threads=args.component_threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported (default 3)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--model-workers", type=int, default=2)
    parser.add_argument("--component-threads", type=int, default=2)
    parser.add_argument("--models-root", type=Path, help="trained artifacts (default: <home>/models)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-interleaving-"))
    try:
        models_root = args.models_root or paths.home() / "models"
        if not (models_root / "control").is_dir():
            models_root = train_quick(scratch / "models")
        script = scratch / "recommend.lua"
        script.write_text(LUA)
        stacks = {design: stack_for(design, scratch, models_root, args) for design in ("ab", "interleaving")}
        rounds = {design: [] for design in stacks}
        try:
            for stack in stacks.values():
                stack.start()
            urls = {design: f"{stack.gateway_url}/api/v1.0/predictions" for design, stack in stacks.items()}
            for url in urls.values():
                run_wrk(url, script, 2, args.connections, args.threads)  # warm-up
            for n in range(args.rounds):
                for design, url in urls.items():
                    rounds[design].append(measured(stacks[design], url, script, args))
                    log.info("round %d %s: %.0f req/s", n + 1, design, rounds[design][-1]["rps"])
        finally:
            for stack in stacks.values():
                stack.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    results = {design: median_result(runs) for design, runs in rounds.items()}
    ratios = [i["rps"] / a["rps"] for i, a in zip(rounds["interleaving"], rounds["ab"])]
    report = {"results": results, "interleaving_to_ab_rps": float(np.median(ratios)), "per_round": ratios,
              "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
              "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("| unified endpoint | req/s | p50 | p99 | CPU ms per request |")
    print("| --- | --- | --- | --- | --- |")
    for design, row in results.items():
        cpu = row["cpu_ms_per_request"]
        print(f"| {design} | {row['rps']:,.0f} | {row['p50_ms']:.1f} ms | {row['p99_ms']:.1f} ms | "
              f"{sum(cpu.values()):.2f} ({', '.join(f'{k} {v:.2f}' for k, v in cpu.items())}) |")
    print(f"interleaving / A/B throughput: {report['interleaving_to_ab_rps']:.0%} (per round "
          + ", ".join(f"{r:.0%}" for r in ratios) + f"); load average {load_before:.1f} -> "
          f"{report['load_average_after']:.1f}; medians of {args.rounds} rounds of {args.duration:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
