"""The real test cluster's costs (issue 9): Kubernetes build, cached bring-up, images, first pod.

    .venv/bin/python benchmarks/bench_cluster.py              # ~3 min: 3 bring-ups/teardowns, 1 pod
    .venv/bin/python benchmarks/bench_cluster.py --runs 5 --json

build:    the one-off `make k8s-binaries` time and binary sizes (recorded by the build in var/k8s/bin/build.json)
images:   build time and unpacked size of each image (recorded by `make images` beside each archive)
bring-up: `Cluster.start()` from cached binaries until the node is Ready and the default service account
          exists (goal < 60 s), and `Cluster.stop()` until the host is as before; medians over --runs
import:   `ctr images import` of each image archive into the node (first run only)
pod:      a hardened funflix-serving Deployment (a real LightFM component) from apply to Ready (first run only)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from funflix.cluster import binaries, images
from funflix.cluster.node import Cluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from cluster import workloads  # noqa: E402  (the smoke tests' hardened pod specs)


def recorded(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def one_run(first: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as root:
        cluster = Cluster(Path(root))
        started = time.perf_counter()
        cluster.start()
        result = {"bring_up_s": time.perf_counter() - started}
        try:
            if first:
                result["import_s"] = {}
                for name in images.IMAGES:
                    began = time.perf_counter()
                    cluster.load_image(images.archive(name))
                    result["import_s"][name] = round(time.perf_counter() - began, 1)
                began = time.perf_counter()
                cluster.apply(workloads.serving_component("control", "default",
                                                          images.IMAGES["funflix-serving"].reference, "control"))
                cluster.kubectl("wait", "--for=condition=Available", "deployment/control", "--timeout=180s",
                                timeout=190)
                result["pod_ready_s"] = round(time.perf_counter() - began, 1)
        finally:
            began = time.perf_counter()
            cluster.stop()
            result["teardown_s"] = time.perf_counter() - began
            result["leftovers"] = cluster.leftovers()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="bring-up/teardown cycles (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}", file=sys.stderr, flush=True)
        runs.append(one_run(first=i == 0))
    report = {
        "k8s_build": recorded(binaries.bin_dir() / binaries.BUILD_RECORD),
        "images": {name: recorded(images.archive(name).with_suffix(".json")) for name in images.IMAGES},
        "bring_up_median_s": round(statistics.median(r["bring_up_s"] for r in runs), 1),
        "bring_up_s": [round(r["bring_up_s"], 1) for r in runs],
        "teardown_median_s": round(statistics.median(r["teardown_s"] for r in runs), 1),
        "import_s": runs[0].get("import_s"),
        "pod_ready_s": runs[0].get("pod_ready_s"),
        "leftovers": sorted({item for r in runs for item in r["leftovers"]}),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    build = report["k8s_build"] or {}
    print(f"Kubernetes build (once): {build.get('build_seconds', '?')} s")
    for name, info in report["images"].items():
        if info:
            print(f"image {info['image']}: {info['size_bytes'] / 1e6:.0f} MB, built in {info['build_seconds']:.0f} s")
    print(f"bring-up (cached binaries): median {report['bring_up_median_s']} s of {report['bring_up_s']}")
    print(f"teardown: median {report['teardown_median_s']} s; leftovers: {report['leftovers'] or 'none'}")
    print(f"image import: {report['import_s']}; serving pod apply -> Ready: {report['pod_ready_s']} s")
    return 1 if report["leftovers"] else 0


if __name__ == "__main__":
    sys.exit(main())
