"""The chart on the real test cluster beside `funflix up`, measured in one run.

(a) ``helm install --wait`` of the chart (``orchestrator: funflix``, the images built here) from a clean
namespace until every pod is Ready, ``--installs`` times (uninstalled in between); (b) the unified
endpoint's req/s and p99: the gateway Deployment on the cluster (reached at its Service's ClusterIP
from the host) and the local stack's gateway (``funflix up``'s processes), same arms, same gunicorn
workers, driven by wrk with bench_serving.py's script in alternating rounds; medians and the ratio.

Run: ``.venv/bin/python benchmarks/bench_chart.py [--rounds 3] [--duration 5] [--installs 1] [--json]``
(starts the test cluster, guarded by its lock, and stops it at the end; builds the images when needed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

from funflix import paths
from funflix.paths import REPO_ROOT
from funflix.serving.processes import free_port_block
from funflix.serving.stack import LocalStack

sys.path[:0] = [str(REPO_ROOT / "tests"), str(Path(__file__).resolve().parent)]
from bench_serving import LUA, run_wrk  # noqa: E402
from cluster.chart_release import POSTGRES_UID, Release, movielens_claim, release_values  # noqa: E402

log = logging.getLogger("bench_chart")
WORKERS = 1  # gunicorn workers per arm, on the cluster and locally (2 cores for everything)


def install_times(cluster, images: dict, scratch: Path, movielens: Path, installs: int) -> tuple[list[float], Release]:
    """Seconds of each ``helm install --wait``; the last release stays installed for the load test."""
    seconds, release = [], None
    for index in range(installs):
        if release is not None:
            release.helm("uninstall", release.name)
            cluster.kubectl("delete", "namespace", release.namespace, "--timeout=180s", timeout=200)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        cluster.kubectl("create", "namespace", namespace)
        values = release_values(images, movielens_claim(cluster, namespace, movielens))
        values["model"]["workers"] = WORKERS
        cluster.host_path_volume(f"pg-{namespace}", size="1Gi", uid=POSTGRES_UID, gid=POSTGRES_UID)
        release = Release(cluster, namespace, "bench", scratch / f"release-{index}")
        release.workdir.mkdir(parents=True)
        seconds.append(release.install(values))
        log.info("helm install %d: every pod Ready after %.1f s", index + 1, seconds[-1])
    return seconds, release


def main(argv: list[str] | None = None) -> int:
    from funflix.cluster import images
    from funflix.cluster.node import Cluster
    from funflix.models.artifacts import LATEST

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating cluster/local rounds (default 3)")
    parser.add_argument("--installs", type=int, default=1, help="helm installs to time (default 1)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    movielens = paths.shared_movielens() / "ml-latest-small"
    models_root = paths.home() / "models"  # what `make images` bakes into the images
    if not (models_root / "control" / LATEST).is_file():
        raise SystemExit(f"no trained models in {models_root}: run `funflix train` (the images bake them)")
    scratch = Path(tempfile.mkdtemp(prefix="bench-chart-"))
    cluster = Cluster(scratch / "cluster")
    load_before = os.getloadavg()[0]
    cluster.start()
    try:
        loaded = {}
        for name, spec in images.IMAGES.items():
            cluster.load_image(images.build(name))
            loaded[name] = spec.reference
        installs, release = install_times(cluster, loaded, scratch, movielens, args.installs)
        script = scratch / "recommend.lua"
        script.write_text(LUA)
        base = free_port_block(4)
        stack = LocalStack(home=scratch / "home", models_root=models_root, gateway_port=base, component_port=base + 1,
                           metrics_port=free_port_block(3), website=False, prometheus=False, model_workers=WORKERS)
        with stack:
            urls = {"cluster_gateway": f"{release.service_url('gateway')}/api/v1.0/predictions",
                    "local_gateway": f"{stack.gateway_url}/api/v1.0/predictions"}
            for url in urls.values():
                run_wrk(url, script, 2, args.connections, args.threads)  # warm-up
            rounds = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    rounds[name].append(run_wrk(url, script, args.duration, args.connections, args.threads))
                    log.info("%s: %.0f req/s, p99 %.1f ms", name, rounds[name][-1]["rps"], rounds[name][-1]["p99_ms"])
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    results = {name: {key: float(np.median([r[key] for r in runs])) for key in ("rps", "p50_ms", "p99_ms")}
               | {"errors": sum(r["errors"] for r in runs)} for name, runs in rounds.items()}
    ratios = [c["rps"] / loc["rps"] for c, loc in zip(rounds["cluster_gateway"], rounds["local_gateway"])]
    report = {"installs_s": installs, "install_median_s": float(np.median(installs)), "results": results,
              "cluster_to_local_rps": float(np.median(ratios)), "per_round_ratio": ratios,
              "duration_s": args.duration, "rounds": args.rounds, "connections": args.connections,
              "model_workers": WORKERS, "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                                                    "load_average_after": os.getloadavg()[0]}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"helm install --wait to every pod Ready: median {report['install_median_s']:.1f} s "
          f"({', '.join(f'{s:.1f}' for s in installs)})")
    print(f"{'unified endpoint':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, row in results.items():
        print(f"{name:<18}{row['rps']:>10.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row['errors']:>8}")
    print(f"cluster / local throughput: {report['cluster_to_local_rps']:.0%} (medians of {args.rounds} alternating "
          f"rounds of {args.duration:g} s at {args.connections} connections, {WORKERS} worker per arm)")
    print(f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before, "
          f"{report['machine']['load_average_after']:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
