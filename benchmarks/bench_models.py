"""Speed and memory of the offline side (issue: foundation).

    .venv/bin/python benchmarks/bench_models.py topk pipeline      # ~1 min
    .venv/bin/python benchmarks/bench_models.py scale              # ML-25M-sized synthetic data, ~20+ min

topk:     one user's top-10 over the whole catalogue from precomputed embeddings vs LightFM.predict + sort,
          median over users, on ml-latest-small (9.7k items) and a 62k-item catalogue.
pipeline: load, split, train both arms, evaluate on ml-latest-small (wall time).
scale:    write ML-25M-sized synthetic CSVs, then load, split and train both arms; times and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from funflix.data.synthetic import write_synthetic
from funflix.models.config import CHALLENGER, CONTROL
from funflix.models.pipeline import evaluate_arms, prepare, train_and_save
from funflix.models.train import train_arm


def median_us(fn, users, repeat: int = 3) -> float:
    times = []
    for user in users:
        start = time.perf_counter()
        for _ in range(repeat):
            fn(user)
        times.append((time.perf_counter() - start) / repeat)
    return float(np.median(times) * 1e6)


def topk_case(prepared, config, label: str) -> dict:
    model, rec = train_arm(config, prepared.split, prepared.catalog, progress=False)
    features = prepared.catalog.features if config.item_features else None
    all_items = np.arange(rec.n_items, dtype=np.int32)
    seen = rec.seen

    def lightfm_topk(row):
        scores = model.predict(int(row), all_items, item_features=features, num_threads=1)
        scores[seen.indices[seen.indptr[row]:seen.indptr[row + 1]]] = -np.inf
        return np.argsort(-scores)[:10]

    rows = np.flatnonzero(rec.known_users)[:300]
    ours = median_us(lambda row: rec.recommend(int(rec.user_ids[row]), 10), rows)
    theirs = median_us(lightfm_topk, rows)
    return {"catalogue": label, "items": rec.n_items, "ours_ms": ours / 1e3, "lightfm_predict_sort_ms": theirs / 1e3,
            "speedup": theirs / ours}


def bench_topk() -> list[dict]:
    small = prepare()
    results = [topk_case(small, CHALLENGER, "ml-latest-small")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic(Path(tmp), n_users=5000, n_items=62_423, n_ratings=400_000, seed=1)
        big = prepare(path=folder)
    results.append(topk_case(big, replace(CHALLENGER, epochs=2), "synthetic 62k items"))
    return results


def bench_pipeline() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        prepared = prepare()
        loaded = time.perf_counter()
        train_and_save(prepared, [CONTROL, CHALLENGER], tmp, progress=False)
        trained = time.perf_counter()
        report = evaluate_arms(tmp, n_boot=1000)
        done = time.perf_counter()
    return {"load_split_s": loaded - start, "train_both_s": trained - loaded, "evaluate_s": done - trained,
            "total_s": done - start, "p@10": {m: report["metrics"]["precision"][m]["mean"] for m in ("control", "challenger")}}


def bench_scale(users: int, items: int, ratings: int, epochs: int | None) -> dict:
    result = {"users": users, "items": items, "ratings": ratings}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = write_synthetic(Path(tmp) / "ml-25m-synthetic", n_users=users, n_items=items, n_ratings=ratings)
        result["generate_s"] = time.perf_counter() - start
        start = time.perf_counter()
        prepared = prepare(path=folder)
        result["load_split_s"] = time.perf_counter() - start
        result["train_positives"] = len(prepared.split.train)
        configs = [CONTROL, CHALLENGER] if epochs is None else [replace(c, epochs=epochs) for c in (CONTROL, CHALLENGER)]
        result["epochs"] = configs[0].epochs
        for config in configs:
            start = time.perf_counter()
            train_arm(config, prepared.split, prepared.catalog, progress=True)
            result[f"train_{config.name}_s"] = time.perf_counter() - start
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="+", choices=["topk", "pipeline", "scale"])
    parser.add_argument("--users", type=int, default=162_541)
    parser.add_argument("--items", type=int, default=62_423)
    parser.add_argument("--ratings", type=int, default=25_000_095)
    parser.add_argument("--epochs", type=int, help="override epochs in the scale run")
    args = parser.parse_args()
    out = {}
    if "topk" in args.parts:
        out["topk"] = bench_topk()
    if "pipeline" in args.parts:
        out["pipeline"] = bench_pipeline()
    if "scale" in args.parts:
        out["scale"] = bench_scale(args.users, args.items, args.ratings, args.epochs)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
