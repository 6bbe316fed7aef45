"""Batch recommendations at ML-25M size: time and peak memory of ``funflix recommend --all``.

    .venv/bin/python benchmarks/bench_batch.py                 # 162,541 users x 62,423 items, ~10 min
    .venv/bin/python benchmarks/bench_batch.py --quick         # 20k x 10k, under a minute

The artifact is synthetic, built directly in the shape an ML-25M training run would save
(random 32-dimensional embeddings, a power-law history of ~25M ratings, 10% of users unknown to
the model), not trained: training LightFM at 25M takes most of an hour (bench_models.py scale)
and batch scoring does not depend on what the embeddings learnt. Each configuration runs the
real command in a fresh process (``funflix recommend --all``), so peak RSS is that run's alone;
the artifact's own footprint (loading it, no scoring) is measured the same way beside it. The
per-user loop (``recommend()`` for each user) is timed on a sample and scaled to all users.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from funflix.models.artifacts import load_recommender, save_recommender
from funflix.models.batch import CHUNK_BYTES, chunk_users
from funflix.models.recommender import Recommender

ML_25M = {"users": 162_541, "items": 62_423, "ratings": 25_000_095}
QUICK = {"users": 20_000, "items": 10_000, "ratings": 1_500_000}
ARM = "control"


def synthetic_recommender(users: int, items: int, ratings: int, dim: int = 32, seed: int = 0) -> Recommender:
    """A recommender of the given shape: random embeddings, a power-law history, 10% unknown users."""
    rng = np.random.default_rng(seed)
    item_weights = 1.0 / np.arange(1, items + 1) ** 0.9
    per_user = np.maximum(1, rng.lognormal(mean=np.log(ratings / users) - 0.5, sigma=1.0, size=users)).astype(np.int64)
    per_user = np.minimum(per_user, items // 2)
    rows = np.repeat(np.arange(users), per_user)
    cols = rng.choice(items, size=len(rows), p=item_weights / item_weights.sum())
    seen = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(users, items))
    seen.sum_duplicates()
    seen.data[:] = 1.0
    popularity = np.asarray(seen.sum(axis=0)).ravel().astype(np.float32)
    return Recommender(
        name=ARM, version="synthetic", user_ids=np.arange(1, users + 1), item_ids=np.arange(1, items + 1),
        user_embeddings=rng.normal(0, 0.3, (users, dim)).astype(np.float32),
        item_embeddings=rng.normal(0, 0.3, (items, dim)).astype(np.float32),
        item_biases=rng.normal(0, 0.1, items).astype(np.float32), known_users=rng.random(users) > 0.1,
        candidates=popularity > 0, seen=seen, popularity=popularity,
        item_genres=sp.csr_matrix((items, 1), dtype=np.float32), genres=["Drama"])


_USAGE = "u = resource.getrusage(resource.RUSAGE_SELF); print(u.ru_maxrss, u.ru_utime + u.ru_stime, file=sys.stderr)"


def run_cli(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (GB) of one ``funflix`` process (CPU time is the
    figure that holds on a shared machine: wall time grows with the other work)."""
    code = f"import resource, sys; from funflix.cli import main; rc = main(sys.argv[1:]); {_USAGE}; sys.exit(rc)"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"funflix {' '.join(args)} failed:\n{done.stderr}")
    rss_kb, cpu = done.stderr.strip().splitlines()[-1].split()
    return seconds, float(cpu), int(rss_kb) / 2**20


def artifact_footprint(root: Path) -> tuple[float, float]:
    """CPU seconds and peak RSS (GB) of a process that imports the CLI and loads the artifact, no scoring."""
    code = (f"import resource, sys; import funflix.cli; from funflix.models.artifacts import load_recommender; "
            f"load_recommender({ARM!r}, root=sys.argv[1]); {_USAGE}")
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    rss_kb, cpu = done.stderr.strip().splitlines()[-1].split()
    return float(cpu), int(rss_kb) / 2**20


def per_user_seconds(root: Path, sample: int, seed: int = 1) -> float:
    """CPU seconds per user of the ``recommend()`` loop, median of 3 passes over a random sample."""
    recommender = load_recommender(ARM, root=root)
    users = np.random.default_rng(seed).choice(recommender.user_ids, size=sample, replace=False)
    passes = []
    for _ in range(3):
        started = time.process_time()
        for user in users:
            recommender.recommend(int(user), 10)
        passes.append((time.process_time() - started) / sample)
    return statistics.median(passes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k users x 10k items instead of ML-25M size")
    parser.add_argument("--budgets-mb", default="64,256,1024", help="chunk working-memory budgets to compare (MB)")
    parser.add_argument("--formats", default="parquet,csv", help="output formats (the first is run at every budget)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration (median reported)")
    parser.add_argument("--sample", type=int, default=2000, help="users timed in the per-user loop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    shape = QUICK if args.quick else ML_25M
    budgets = [int(b) for b in args.budgets_mb.split(",")]
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        started = time.perf_counter()
        recommender = synthetic_recommender(**shape)
        history = recommender.seen.nnz
        save_recommender(recommender, {"synthetic": shape}, root)
        del recommender
        print(f"built a {shape['users']:,} x {shape['items']:,} artifact with {history:,} history entries "
              f"in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        load_cpu, load_gb = artifact_footprint(root)
        runs = []
        plan = [(budget, formats[0]) for budget in budgets] + [(CHUNK_BYTES // 2**20, f) for f in formats[1:]]
        for budget, fmt in plan:
            chunk = chunk_users(shape["items"], budget * 2**20)
            out = Path(tmp) / f"recs.{fmt}"
            measured = [run_cli(["recommend", "--all", "--out", str(out), "--arm", ARM, "--k", "10",
                                 "--chunk-size", str(chunk), "--models-dir", str(root)]) for _ in range(args.repeats)]
            seconds = statistics.median(m[0] for m in measured)
            cpu = statistics.median(m[1] for m in measured)
            peak = max(m[2] for m in measured)
            runs.append({"budget_mb": budget, "chunk_users": chunk, "format": fmt, "seconds": seconds,
                         "cpu_seconds": cpu, "scoring_cpu_seconds": cpu - load_cpu, "peak_rss_gb": peak,
                         "above_artifact_gb": peak - load_gb, "file_mb": out.stat().st_size / 2**20})
            print(f"  {fmt:8} budget {budget:5} MB ({chunk:5} users/chunk): {seconds:6.1f} s wall, {cpu:6.1f} s CPU, "
                  f"peak {peak:.2f} GB", file=sys.stderr, flush=True)
        per_user = per_user_seconds(root, min(args.sample, shape["users"]))
    default = next(r for r in runs if r["budget_mb"] == CHUNK_BYTES // 2**20 and r["format"] == formats[0])
    loop_seconds = per_user * shape["users"]
    result = {"shape": {**shape, "history_entries": history}, "startup_and_load_cpu_seconds": load_cpu,
              "artifact_peak_rss_gb": load_gb, "runs": runs, "per_user_loop_cpu_seconds_estimated": loop_seconds,
              "per_user_cpu_ms": per_user * 1e3,
              "batch_speedup_vs_loop": loop_seconds / default["scoring_cpu_seconds"],
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{shape['users']:,} users x {shape['items']:,} items, {history:,} history entries, k = 10; "
          f"start-up and artifact alone: {load_gb:.2f} GB peak RSS, {load_cpu:.1f} s CPU")
    print("| output | chunk budget | users per chunk | CPU time (scoring) | wall time | peak RSS | above the artifact | file |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        print(f"| {r['format']} | {r['budget_mb']} MB | {r['chunk_users']:,} | {r['cpu_seconds']:.0f} s "
              f"({r['scoring_cpu_seconds']:.0f} s) | {r['seconds']:.0f} s | {r['peak_rss_gb']:.2f} GB | "
              f"{r['above_artifact_gb']:.2f} GB | {r['file_mb']:.0f} MB |")
    print(f"per-user recommend() loop: {per_user * 1e3:.2f} ms CPU/user -> {loop_seconds:.0f} s for all users; "
          f"batch scoring (default budget) is {result['batch_speedup_vs_loop']:.1f}x less CPU; "
          f"load average {result['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
