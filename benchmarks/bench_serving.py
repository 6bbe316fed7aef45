"""Serving speed, side by side in one run.

(a) top-k in process (the limit), (b) one model component called directly (seldon-core-microservice,
2 gunicorn workers), (c) the unified endpoint: gateway -> router -> model, as the website calls it.
(b) and (c) are driven by wrk with a Lua script posting ``{"jsonData": {"user_id": u, "k": 10}}``
for MovieLens users in turn, at 8 connections on loopback (wrk shares the machine's cores), in
alternating rounds; the report gives medians, and each process's CPU milliseconds per request.

Run: ``.venv/bin/python benchmarks/bench_serving.py [--rounds 3] [--duration 5] [--json]``
(uses ``<home>/models``; trains quick models into a temporary folder when there are none).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from funflix import paths
from funflix.models.pipeline import train_quick
from funflix.serving.processes import free_port_block
from funflix.serving.stack import LocalStack

log = logging.getLogger("bench_serving")
WRK = "/usr/bin/wrk"
N_USERS = 610  # ml-latest-small's users: every request is a real, known user
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  local user = (counter * 7919) %% %d + 1
  return wrk.format(nil, nil, nil, '{"jsonData": {"user_id": ' .. user .. ', "k": 10}}')
end
""" % N_USERS
TARGETS = {"unified_to_direct": 0.5, "unified_rps": 400, "unified_p99_ms": 30}


def in_process(models_root: Path, seconds: float) -> dict:
    """(a) ``Recommender.recommend`` in a loop: the ceiling for one core."""
    from funflix.models.artifacts import load_recommender

    recommender = load_recommender("control", root=models_root)
    durations = []
    user, stop = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        user = user * 7919 % N_USERS + 1
        started = time.perf_counter()
        recommender.recommend(user, 10)
        durations.append(time.perf_counter() - started)
    durations = np.array(durations)
    return {"rps": len(durations) / durations.sum(), "p50_ms": float(np.percentile(durations, 50) * 1000),
            "p99_ms": float(np.percentile(durations, 99) * 1000), "requests": len(durations)}


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(url: str, script: Path, seconds: float, connections: int, threads: int) -> dict:
    """wrk's throughput and latency percentiles; non-2xx answers are counted as errors."""
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": _milliseconds(percentiles["50"]), "p99_ms": _milliseconds(percentiles["99"]),
            "requests": int(re.search(r"(\d+) requests in", output).group(1)),
            "errors": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process in a process group, from /proc (Linux)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured(stack: LocalStack, url: str, script: Path, args) -> dict:
    """wrk figures plus the CPU milliseconds each process (and wrk) spent per request."""
    groups = {name: process.process.pid for name, process in stack.processes.items()}
    before = {name: group_cpu_seconds(pgid) for name, pgid in groups.items()}
    wrk_before = os.times()
    result = run_wrk(url, script, args.duration, args.connections, args.threads)
    wrk_after = os.times()
    spent = {name: group_cpu_seconds(pgid) - before[name] for name, pgid in groups.items()}
    spent["wrk"] = (wrk_after.children_user + wrk_after.children_system
                    - wrk_before.children_user - wrk_before.children_system)
    per_request = {name: round(seconds * 1000 / result["requests"], 3) for name, seconds in spent.items()}
    result["cpu_ms_per_request"] = {name: ms for name, ms in per_request.items() if ms >= 0.005}
    return result


def median_result(runs: list[dict]) -> dict:
    """Medians over rounds of every figure (and of each process's CPU per request)."""
    merged = {key: float(np.median([run[key] for run in runs])) for key in ("rps", "p50_ms", "p99_ms")}
    merged["requests"] = sum(run["requests"] for run in runs)
    merged["errors"] = sum(run["errors"] for run in runs)
    names = {name for run in runs for name in run["cpu_ms_per_request"]}
    cpu = {name: float(np.median([run["cpu_ms_per_request"].get(name, 0.0) for run in runs])) for name in sorted(names)}
    merged["cpu_ms_per_request"] = {name: ms for name, ms in cpu.items() if ms >= 0.005}
    merged["rounds"] = [{key: run[key] for key in ("rps", "p50_ms", "p99_ms")} for run in runs]
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating direct/unified measurements; medians are reported (default 3)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--model-workers", type=int, default=2, help="gunicorn workers per model component")
    parser.add_argument("--component-threads", type=int, default=2,
                        help="gunicorn threads per component worker (2+ keeps connections alive)")
    parser.add_argument("--models-root", type=Path, help="trained artifacts (default: <home>/models)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        models_root = args.models_root or paths.home() / "models"
        if not (models_root / "control").is_dir():
            log.info("no trained models: training quick ones into %s", scratch / "models")
            models_root = train_quick(scratch / "models")
        script = scratch / "recommend.lua"
        script.write_text(LUA)
        results = {"in_process": in_process(models_root, args.duration)}
        base = free_port_block(6)
        stack = LocalStack(home=scratch / "home", models_root=models_root, gateway_port=base, component_port=base + 1,
                           metrics_port=free_port_block(3), website=False, prometheus=False,
                           model_workers=args.model_workers, component_threads=args.component_threads)
        with stack:
            urls = {"direct_component": f"{stack.component('control').url}/api/v1.0/predictions",
                    "unified_endpoint": f"{stack.gateway_url}/api/v1.0/predictions"}
            for url in urls.values():
                run_wrk(url, script, 2, args.connections, args.threads)  # warm-up
            rounds = {name: [] for name in urls}
            for _ in range(args.rounds):  # alternate, so load from elsewhere hits both paths alike
                for name, url in urls.items():
                    rounds[name].append(measured(stack, url, script, args))
                    log.info("%s: %.0f req/s", name, rounds[name][-1]["rps"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    ratios = [u["rps"] / d["rps"] for u, d in zip(rounds["unified_endpoint"], rounds["direct_component"])]
    results.update({name: median_result(runs) for name, runs in rounds.items()})
    unified = results["unified_endpoint"]
    ratio = float(np.median(ratios))
    machine = {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}
    report = {"machine": machine, "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds,
              "model_workers": args.model_workers, "component_threads": args.component_threads,
              "results": results, "unified_to_direct": ratio, "unified_to_direct_per_round": ratios,
              "targets": TARGETS, "targets_met": {
                  "unified_to_direct": ratio >= TARGETS["unified_to_direct"],
                  "unified_rps": unified["rps"] >= TARGETS["unified_rps"],
                  "unified_p99_ms": unified["p99_ms"] < TARGETS["unified_p99_ms"]}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'path':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, row in results.items():
        print(f"{name:<22}{row['rps']:>10.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row.get('errors', 0):>8}")
    for name in ("direct_component", "unified_endpoint"):
        cpu = results[name]["cpu_ms_per_request"]
        print(f"CPU ms per request, {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
              + f" (total {sum(cpu.values()):.2f})")
    print(f"medians of {args.rounds} alternating rounds of {args.duration:g} s; per-round unified/direct: "
          + ", ".join(f"{r:.0%}" for r in ratios))
    print(f"unified / direct throughput: {ratio:.0%} (target >= 50%); unified {unified['rps']:.0f} req/s "
          f"(target >= 400), p99 {unified['p99_ms']:.1f} ms (target < 30) at {args.connections} connections")
    print(f"{machine['cpus']} CPUs, 1-minute load average {load_before:.1f} before, "
          f"{machine['load_average_after']:.1f} after (other work on the machine lowers every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
