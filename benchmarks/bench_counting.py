"""Exactness of the per-arm counters under concurrent feedback (issue 12, "Counting"), in one run.

    .venv/bin/python benchmarks/bench_counting.py            # ~1 min: quick models, router, arms, gateway
    .venv/bin/python benchmarks/bench_counting.py --lists 400 --concurrency 16 --json

The arms run as on ``funflix up`` (2 gunicorn workers x 2 threads each). ``--lists`` lists are served,
then their feedback (every other one clicked) is posted ``--concurrency`` at a time through the gateway.
Side by side, for the same posts:

- credited: what the components answered (``credited``), the truth;
- ledger: ``funflix_impressions_total`` / ``funflix_clicks_total`` from the feedback ledger (what the
  dashboard reads);
- seldon: seldon-core's own ``seldon_api_model_feedback_total`` (feedback with a non-zero reward), kept
  in the wrapper's per-worker shared dict, the path the counters took before (now with its update
  serialised per process, ``funflix.serving.seldon_metrics_lock``): expected = the clicks posted.

Then ``--copy-trials`` clicks posted as 8 concurrent copies each: how often the ledger's click counter
moved by exactly one. And the served-lists counter (still Seldon's, ``funflix_recommendations_total``)
against the lists served ``--concurrency`` at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from funflix.models.pipeline import train_quick


def scrape(url: str, name: str) -> float:
    text = requests.get(url, timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def totals(stack) -> dict[str, float]:
    found = {"impressions": 0.0, "clicks": 0.0, "seldon_feedback": 0.0, "recommendations": 0.0}
    for arm in stack.arms:
        found["impressions"] += scrape(arm.ledger_metrics_url, "funflix_impressions_total")
        found["clicks"] += scrape(arm.ledger_metrics_url, "funflix_clicks_total")
        found["seldon_feedback"] += scrape(arm.metrics_url, "seldon_api_model_feedback_total")
        found["recommendations"] += scrape(arm.metrics_url, "funflix_recommendations_total")
    return found


def moved(before: dict, after: dict) -> dict:
    return {key: after[key] - before[key] for key in before}


def run(models_root: Path, home: Path, lists: int, concurrency: int, copy_trials: int) -> dict:
    from funflix.serving.processes import free_port_block
    from funflix.serving.stack import LocalStack

    base = free_port_block(4)
    with LocalStack(home=home, models_root=models_root, gateway_port=base, component_port=base + 1,
                    metrics_port=free_port_block(3), website=False, prometheus=False) as stack:
        predict, feedback = f"{stack.gateway_url}/api/v1.0/predictions", f"{stack.gateway_url}/api/v1.0/feedback"

        def serve(user_id):
            return requests.post(predict, json={"jsonData": {"user_id": user_id, "k": 3}}, timeout=30).json()

        def post(payload):
            return requests.post(feedback, json=payload, timeout=30).json()["jsonData"]

        with ThreadPoolExecutor(concurrency) as pool:
            start = totals(stack)
            served = list(pool.map(serve, range(1, lists + 1)))
            after_serving = totals(stack)
            answers = list(pool.map(post, [{"response": r, "reward": i % 2} for i, r in enumerate(served)]))
            after_feedback = totals(stack)
            exact_copies = 0
            for response in served[:copy_trials]:  # a fresh list of the same user per trial
                fresh = serve(response["jsonData"]["user_id"])
                before = totals(stack)
                list(pool.map(post, [{"response": fresh, "reward": 1}] * 8))
                exact_copies += moved(before, totals(stack))["clicks"] == 1
    feedback_moved = moved(after_serving, after_feedback)
    return {
        "lists": lists, "concurrency": concurrency,
        "credited": {"impressions": sum(a["credited"] for a in answers),
                     "clicks": sum(a["credited"] and a["reward"] == 1 for a in answers)},
        "ledger": {"impressions": feedback_moved["impressions"], "clicks": feedback_moved["clicks"]},
        "seldon_feedback": {"expected": sum(i % 2 for i in range(lists)), "counted": feedback_moved["seldon_feedback"]},
        "served_lists": {"expected": lists, "counted": moved(start, after_serving)["recommendations"]},
        "copies": {"trials": copy_trials, "clicks_moved_by_one": exact_copies},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--copy-trials", type=int, default=15)
    parser.add_argument("--models-root", type=Path, help="trained artifacts (default: quick models, trained here)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models_root = args.models_root or train_quick(tmp / "models")
        result = run(models_root, tmp / "home", args.lists, args.concurrency, args.copy_trials)
    if args.json:
        print(json.dumps(result))
        return 0
    credited, ledger = result["credited"], result["ledger"]
    print(f"{result['lists']} lists, feedback {result['concurrency']} at a time")
    print(f"credited by the components: {credited['impressions']} impressions, {credited['clicks']} clicks")
    print(f"ledger counters moved:      {ledger['impressions']:.0f} impressions, {ledger['clicks']:.0f} clicks")
    seldon = result["seldon_feedback"]
    print(f"seldon's feedback counter:  {seldon['counted']:.0f} of {seldon['expected']} reward-1 posts")
    served = result["served_lists"]
    print(f"served lists (Seldon):      {served['counted']:.0f} of {served['expected']}")
    copies = result["copies"]
    print(f"8 concurrent copies of a click: the click counter moved by exactly 1 in "
          f"{copies['clicks_moved_by_one']} of {copies['trials']} trials")
    return 0


if __name__ == "__main__":
    sys.exit(main())
