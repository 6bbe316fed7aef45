"""Time and peak memory of one reading of `funflix k8s watch`: the verdict over the users whose arm never
changed, read from an event store.

    .venv/bin/python benchmarks/bench_watch.py                     # 200k impressions over 50k users
    .venv/bin/python benchmarks/bench_watch.py --users 5000 --json

A SQLite event store in the site's schema is generated in a temporary folder: ``--users`` users routed at
50/50 by the router's sticky hash, ``--per-user`` closed impressions each, CTR 8% and 8.5%. One reading
(:func:`funflix.k8s.watch.read_verdict`) is timed before any ramp and after a 50 -> 75 step (a quarter of
the users left out), in this process; peak RSS is the whole process (interpreter, pandas, scipy).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from datetime import timedelta

import numpy as np

from funflix.k8s.operations import Deployed
from funflix.k8s.ramp import child_for_point, user_point
from funflix.k8s.watch import read_verdict
from funflix.serving.experiment_config import parse_experiment
from funflix.website import store
from funflix.website.experiments import register_experiment

ARMS = ("control", "challenger")
SALT = "bench-watch"


def make_store(folder: str, users: int, per_user: int) -> str:
    url = f"sqlite:///{folder}/events.db"
    engine = store.create_store_engine(url)
    store.migrate(engine)
    config = parse_experiment({"name": "bench", "salt": SALT, "routing": "sticky",
                               "arms": [{"name": arm, "model": arm, "version": "v1", "split": 0.5} for arm in ARMS]})
    with engine.connect() as conn:
        experiment = register_experiment(conn, config, models_root=folder)
    rng, start, rows = np.random.default_rng(0), store.utcnow() - timedelta(hours=3), []
    for user in range(users):
        arm = ARMS[child_for_point([0.5, 0.5], user_point(SALT, user))]
        for visit in range(per_user):
            clicked = rng.random() < (0.08 if arm == "control" else 0.085)
            rows.append({"id": uuid.uuid4().hex, "user_id": user, "arm": arm, "items": [1],
                         "created_at": start + timedelta(milliseconds=10 * len(rows)),
                         "status": store.CLICKED if clicked else store.UNCLICKED, "visit": f"{user}-{visit}",
                         "experiment_id": experiment.id})
    with engine.begin() as conn:
        conn.execute(store.impressions.insert(), rows)
    engine.dispose()
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--per-user", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as folder:
        url = make_store(folder, args.users, args.per_user)
        for history in (((0.5, 0.5),), ((0.5, 0.5), (0.25, 0.75))):
            now = Deployed("funflix", "bench", "sticky", SALT, ARMS, history[-1], history=history)
            started = time.perf_counter()
            reading, summary = read_verdict(url, now, "control")
            results.append({"impressions": summary["impressions"], "analysed": summary["analysed"],
                            "splits": len(history), "seconds": round(time.perf_counter() - started, 2),
                            "verdict": reading.decision})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps({"readings": results, "peak_rss_mb": round(peak)}))
    else:
        for r in results:
            print(f"{r['impressions']:,} impressions, {r['splits']} split(s) in the history: {r['analysed']:,} "
                  f"analysed, one reading {r['seconds']:.2f} s, verdict {r['verdict']}")
        print(f"peak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
