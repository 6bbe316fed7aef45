"""Speed of the website (issue: website), measured side by side in one run.

    .venv/bin/python benchmarks/bench_website.py            # ~1.5 min: quick models, whole local stack
    .venv/bin/python benchmarks/bench_website.py --json --rate 20 --seconds 30

render:  the home page (Seldon call through the gateway, impression write, template) requested
         open-loop at ``--rate`` requests/s by distinct signed-in members for ``--seconds``, with the
         whole local stack running (router, both arms, gateway, website under gunicorn, Prometheus);
         beside it, at the same rate, the bare gateway predict call the page makes (alone, and probed
         at 2/s during the page run, when each page view also posts a reward-0 feedback), and the site's
         own part of each render (its Server-Timing header: total minus the Seldon call). p50/p99
         in ms (targets: page p50 < 30 ms, p99 < 100 ms).
store:   the event-store write per impression (record_impression, including closing the member's
         previous row and queueing its reward 0) and per click, on a SQLite file with the site's
         settings; median and p99 in ms (target < 2 ms per impression).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

from funflix.models.pipeline import train_quick


def percentiles(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1000.0
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2)}


def open_loop(call, rate: float, seconds: float, workers: int = 16) -> tuple[list[float], int]:
    """Start ``call(i)`` every 1/rate s (whatever earlier calls are doing); latencies and failures."""
    latencies, failures, lock = [], [0], threading.Lock()

    def timed(i):
        start = time.perf_counter()
        ok = call(i)
        elapsed = time.perf_counter() - start
        with lock:
            if ok:
                latencies.append(elapsed)
            else:
                failures[0] += 1

    total = int(rate * seconds)
    with ThreadPoolExecutor(workers) as pool:
        origin = time.perf_counter()
        for i in range(total):
            delay = origin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(timed, i)
    return latencies, failures[0]


def mean_ms(metrics: str, name: str, labels: str) -> float | None:
    """Mean of a histogram series (``_sum / _count``) in the site's own /metrics, in ms."""
    values = {}
    for suffix in ("sum", "count"):
        match = re.search(rf"^{name}_{suffix}{{{labels}}} (\S+)$", metrics, re.M)
        values[suffix] = float(match.group(1)) if match else 0.0
    return round(1000 * values["sum"] / values["count"], 2) if values["count"] else None


def bench_render(models_root: Path, home: Path, rate: float, seconds: float, members: int) -> dict:
    from funflix.serving.processes import free_port_block
    from funflix.serving.stack import LocalStack

    base = free_port_block(10)
    with LocalStack(home=home, models_root=models_root, gateway_port=base, website_port=base + 1,
                    prometheus_port=base + 2, component_port=base + 3, metrics_port=base + 6) as stack:
        site, gateway = stack.website_url, stack.gateway_url
        sessions = []
        for user_id in range(1, members + 1):
            session = requests.Session()
            session.post(f"{site}/signin", data={"user_id": str(user_id)}, allow_redirects=False).raise_for_status()
            sessions.append(session)
        for session in sessions[:20]:  # warm-up: templates, catalogue, connections
            session.get(f"{site}/").raise_for_status()

        site_only = []

        def page(i):
            response = sessions[i % len(sessions)].get(f"{site}/", timeout=10)
            timing = dict(re.findall(r"(\w+);dur=([\d.]+)", response.headers.get("Server-Timing", "")))
            if "seldon" in timing:
                site_only.append((float(timing["app"]) - float(timing["seldon"])) / 1000)
            return response.status_code == 200 and 'data-fallback="false"' in response.text

        gateway_session = requests.Session()

        def predict(i):
            response = gateway_session.post(f"{gateway}/api/v1.0/predictions",
                                            json={"jsonData": {"user_id": 1 + i % members, "k": 10}}, timeout=10)
            return response.status_code == 200

        predict_latencies, predict_failures = open_loop(predict, rate, seconds / 2)
        probe = {}  # the gateway probed at 2/s during the page run: same conditions as the pages
        prober = threading.Thread(target=lambda: probe.update(zip(("latencies", "failures"),
                                                                  open_loop(predict, 2.0, seconds, workers=2))))
        prober.start()
        page_latencies, page_failures = open_loop(page, rate, seconds)
        prober.join()
        metrics = requests.get(f"{site}/metrics", timeout=5).text
    return {"rate_per_s": rate, "seconds": seconds,
            "home_page": {**percentiles(page_latencies), "failures": page_failures},
            "gateway_predict": {**percentiles(predict_latencies), "failures": predict_failures},
            "gateway_predict_during_pages": {**percentiles(probe["latencies"]), "failures": probe["failures"]},
            "home_page_without_seldon_call": percentiles(site_only),
            "server_side_mean_ms": {
                "home_render": mean_ms(metrics, "funflix_website_page_render_seconds", 'page="recs.home"'),
                "seldon_predict": mean_ms(metrics, "funflix_website_seldon_request_seconds", 'call="predict",outcome="ok"'),
                "seldon_feedback": mean_ms(metrics, "funflix_website_seldon_request_seconds", 'call="feedback",outcome="ok"')},
            "website_fallback_rows": "funflix_website_fallback_impressions_total{" in metrics}


def bench_store(folder: Path, n: int) -> dict:
    from funflix.website import store

    engine = store.create_store_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
    store.migrate(engine)
    response = {"jsonData": {"items": list(range(10)), "scores": [0.1] * 10},
                "meta": {"puid": "x" * 26, "routing": {"ab-router": 0}, "tags": {"arm": "control"}}}
    writes, clicks = [], []
    with engine.connect() as conn:
        for i in range(n):
            impression_id = uuid.uuid4().hex
            start = time.perf_counter()
            store.record_impression(conn, impression_id=impression_id, user_id=i % 500, items=list(range(10)),
                                    arm="control", model_name="control", model_version="v1", strategy="personal",
                                    puid=response["meta"]["puid"], request={"jsonData": {"user_id": i % 500, "k": 10}},
                                    response=response)
            writes.append(time.perf_counter() - start)
            if i % 10 == 0:
                start = time.perf_counter()
                store.record_click(conn, impression_id, i % 500, 3)
                clicks.append(time.perf_counter() - start)
    engine.dispose()
    return {"record_impression": percentiles(writes), "record_click": percentiles(clicks)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="home page requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the page measurement")
    parser.add_argument("--members", type=int, default=200, help="distinct signed-in members")
    parser.add_argument("--writes", type=int, default=3000, help="impressions written in the store benchmark")
    parser.add_argument("--models-root", type=Path, help="trained artifacts (default: train quick models)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-website-") as tmp:
        tmp = Path(tmp)
        print("store write benchmark ...", file=sys.stderr)
        results = {"store": bench_store(tmp, args.writes)}
        models_root = args.models_root or train_quick(tmp / "models")
        print("local stack + home page benchmark ...", file=sys.stderr)
        results["render"] = bench_render(models_root, tmp / "home", args.rate, args.seconds, args.members)
    page, store_write = results["render"]["home_page"], results["store"]["record_impression"]
    results["targets_met"] = {"page_p50_lt_30ms": page["p50_ms"] < 30, "page_p99_lt_100ms": page["p99_ms"] < 100,
                              "store_write_lt_2ms": store_write["p50_ms"] < 2}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    render = results["render"]
    print(f"home page at {render['rate_per_s']:g}/s for {render['seconds']:g}s: p50 {page['p50_ms']} ms, "
          f"p90 {page['p90_ms']} ms, p99 {page['p99_ms']} ms, max {page['max_ms']} ms, failures {page['failures']}")
    gw = render["gateway_predict"]
    print(f"gateway predict alone at the same rate:   p50 {gw['p50_ms']} ms, p99 {gw['p99_ms']} ms "
          f"(page/gateway p50 ratio {page['p50_ms'] / gw['p50_ms']:.2f})")
    during = render["gateway_predict_during_pages"]
    print(f"gateway predict probed at 2/s during the page run: p50 {during['p50_ms']} ms, p99 {during['p99_ms']} ms")
    own = render["home_page_without_seldon_call"]
    print(f"the site's own part of each render (Server-Timing app - seldon): p50 {own['p50_ms']} ms, "
          f"p99 {own['p99_ms']} ms")
    inside = render["server_side_mean_ms"]
    print(f"inside the site (means, ms): home render {inside['home_render']}, of which Seldon predict "
          f"{inside['seldon_predict']}; feedback post {inside['seldon_feedback']} (background)")
    click = results["store"]["record_click"]
    print(f"event store: record_impression p50 {store_write['p50_ms']} ms, p99 {store_write['p99_ms']} ms; "
          f"record_click p50 {click['p50_ms']} ms, p99 {click['p99_ms']} ms")
    print(f"targets met: {results['targets_met']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
