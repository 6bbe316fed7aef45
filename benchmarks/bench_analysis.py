"""Time and peak memory of the experiment's analysis on big event stores, old way and new side by side.

    .venv/bin/python benchmarks/bench_analysis.py                       # 1M and 10M impressions (~15 min)
    .venv/bin/python benchmarks/bench_analysis.py --sizes 1000000 --repeats 3 --json

For each size a SQLite event store in the site's schema is generated once (under ``--folder``,
reused by later runs): ``N`` impressions over ``N / 10`` users, sticky arms, CTR 7% and 10%, every
row closed and its feedback delivered (delivered outbox rows are not generated: no analysis reads them;
nor are the Seldon request and response payloads). Each measurement runs in a fresh process (its peak RSS is
the whole process: interpreter, pandas, scipy):

pandas:     every impression loaded into pandas, then analysed (what ``funflix analyze`` and
            ``/experiment`` did before; skipped above ``--pandas-max`` rows, as it needs ~0.7 GB per
            million impressions).
store:      sums aggregated in the database, the replay streamed in chunks (a first look).
store, again: a second look of the same StoreAnalysis, which kept the settled replay.

Medians over ``--repeats`` processes (wall and CPU seconds of the analysis itself); the figures of both ways are compared (everything but the
plotted timeline must be identical).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from funflix import paths


def generate(path: Path, n: int) -> None:
    """An event store of ``n`` settled impressions (bulk SQL, indexes built after the rows)."""
    import sqlite3

    from funflix.website import store

    engine = store.create_store_engine(f"sqlite:///{path}")
    store.migrate(engine)
    engine.dispose()
    indexes = [index for table in (store.impressions, store.feedback) for index in table.indexes]
    indexes += list(store.ANALYSIS_INDEXES)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    for index in indexes:
        con.execute(f"DROP INDEX IF EXISTS {index.name}")
    users = max(n // 10, 2)
    con.execute(f"""
        WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < {n - 1}),
        rows AS (SELECT i, abs(random()) % {users} AS user FROM k)
        INSERT INTO impressions (id, user_id, arm, items, created_at, status, closed_at, visit)
        SELECT printf('%032x', i), user, CASE user % 2 WHEN 0 THEN 'control' ELSE 'challenger' END, '[1,2,3]',
               strftime('%Y-%m-%d %H:%M:%f', '2026-10-01', '+' || (i / 100.0) || ' seconds') || '000',
               CASE WHEN abs(random()) % 1000 < CASE user % 2 WHEN 0 THEN 70 ELSE 100 END
                    THEN 'clicked' ELSE 'unclicked' END,
               strftime('%Y-%m-%d %H:%M:%f', '2026-10-01', '+' || (i / 100.0 + 1) || ' seconds') || '000',
               user || '-' || (i / 20000)
        FROM rows""")
    con.commit()
    con.close()
    engine = store.create_store_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn, checkfirst=True)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def worker(method: str, url: str) -> dict:
    """One measurement in this process: seconds and peak RSS; the figures for the comparison."""
    from funflix.experiment.configured import analysis_config
    from funflix.website import store

    config = analysis_config()
    looks, cpu = [], []
    if method == "pandas":
        from funflix.experiment.analysis import analyze

        started, cpu_started = time.perf_counter(), time.process_time()
        result = analyze(store.load_impressions(url), config)
        looks.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    else:
        from funflix.experiment.store_analysis import StoreAnalysis

        analysis = StoreAnalysis()
        engine = store.open_existing(url)
        for _ in range(2):
            started, cpu_started = time.perf_counter(), time.process_time()
            with engine.execution_options(readonly=True).connect() as conn:
                result = analysis.analyze(conn, config)
            looks.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": looks, "cpu_seconds": cpu, "peak_rss_mb": peak,
            "figures": result.to_dict(include_timeline=False)}


def measure(method: str, url: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", method, "--url", url], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pandas-max", type=int, default=2_000_000)
    parser.add_argument("--folder", type=Path, default=None, help="where the stores are kept (default: <home>/bench)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=("pandas", "store"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.url)))
        return 0
    folder = args.folder or paths.sub("bench")
    folder.mkdir(parents=True, exist_ok=True)
    report = []
    for n in args.sizes:
        path = folder / f"analysis-{n}.sqlite3"
        if not path.exists():
            print(f"generating {n:,} impressions in {path} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            generate(path.with_suffix(".partial"), n)
            path.with_suffix(".partial").rename(path)
            print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        url = f"sqlite:///{path}"
        methods = ["pandas", "store"] if n <= args.pandas_max else ["store"]
        runs = {m: [] for m in methods}
        for r in range(args.repeats):
            for m in methods:
                print(f"{n:,} impressions: {m} run {r + 1}/{args.repeats}", file=sys.stderr, flush=True)
                runs[m].append(measure(m, url))
        row = {"impressions": n}
        for m, measured in runs.items():
            row[m] = {"seconds": float(np.median([x["seconds"][0] for x in measured])),
                      "cpu_seconds": float(np.median([x["cpu_seconds"][0] for x in measured])),
                      "peak_rss_mb": float(np.median([x["peak_rss_mb"] for x in measured]))}
            if m == "store":
                row["store, again"] = {"seconds": float(np.median([x["seconds"][1] for x in measured])),
                                       "cpu_seconds": float(np.median([x["cpu_seconds"][1] for x in measured]))}
        if "pandas" in runs:
            row["identical_figures"] = runs["pandas"][0]["figures"] == runs["store"][0]["figures"]
            row["time_ratio"] = row["pandas"]["seconds"] / row["store"]["seconds"]
            row["memory_ratio"] = row["pandas"]["peak_rss_mb"] / row["store"]["peak_rss_mb"]
        report.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{'impressions':>12} {'method':<14} {'seconds':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for row in report:
        for m in ("pandas", "store", "store, again"):
            if m in row:
                rss = f"{row[m]['peak_rss_mb']:>12.0f}" if "peak_rss_mb" in row[m] else f"{'':>12}"
                print(f"{row['impressions']:>12,} {m:<14} {row[m]['seconds']:>8.2f} {row[m]['cpu_seconds']:>8.2f} {rss}")
        if "identical_figures" in row:
            print(f"{'':>12} pandas / store: {row['time_ratio']:.1f}x time, {row['memory_ratio']:.1f}x memory; "
                  f"identical figures: {row['identical_figures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
