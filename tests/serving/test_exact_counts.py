"""Counters equal the credited counts under concurrent feedback: the real stack (two gunicorn workers
with two threads per arm), 16 feedback posts at a time through the gateway, with and without duplicates;
and the served-lists counter equals the lists served 16 at a time."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow

LISTS = 200
CONCURRENCY = 16


def _serve(http, stack, users):
    url = f"{stack.gateway_url}/api/v1.0/predictions"
    return [http.post(url, json={"jsonData": {"user_id": u, "k": 3}}, timeout=10).json() for u in users]


def _post_feedback(stack, payloads):
    """Post every payload, ``CONCURRENCY`` at a time (a session per thread); the components' answers."""
    import requests

    url = f"{stack.gateway_url}/api/v1.0/feedback"

    def post(payload):
        answer = requests.post(url, json=payload, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["jsonData"]

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(post, payloads))


def _credited(answers) -> Counter:
    credited = Counter()
    for answer in answers:
        if answer["credited"]:
            credited[("funflix_impressions_total", answer["arm"])] += 1
            credited[("funflix_clicks_total", answer["arm"])] += answer["reward"] == 1
    return credited


def _moved(before, after) -> Counter:
    return Counter({key: after.get(key, 0) - before.get(key, 0) for key in after
                    if key[0] in ("funflix_impressions_total", "funflix_clicks_total")})


def test_counters_equal_credited_feedback_posted_16_at_a_time(http, stack, read_counters):
    served = _serve(http, stack, range(2000, 2000 + LISTS))
    before = read_counters(stack)
    answers = _post_feedback(stack, [{"response": r, "reward": i % 2} for i, r in enumerate(served)])
    credited = _credited(answers)
    assert sum(credited[("funflix_impressions_total", arm)] for arm in stack.config.arm_names) == LISTS
    assert _moved(before, read_counters(stack)) == credited


def test_lists_served_16_at_a_time_are_all_counted(stack, read_counters):
    """The served-lists counter stays Seldon's (its per-worker update is serialised per process)."""
    import requests

    before = read_counters(stack)
    url = f"{stack.gateway_url}/api/v1.0/predictions"
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        served = list(pool.map(lambda u: requests.post(url, json={"jsonData": {"user_id": u, "k": 2}}, timeout=30)
                               .json()["meta"]["tags"]["arm"], range(4000, 4000 + LISTS)))
    after = read_counters(stack)
    for arm, n in Counter(served).items():
        key = ("funflix_recommendations_total", arm)
        assert after[key] - before.get(key, 0) == n, arm


def test_a_click_posted_as_8_concurrent_copies_moves_the_counters_once(http, stack, read_counters):
    served = _serve(http, stack, range(3000, 3000 + 6))
    for response in served:
        arm = response["meta"]["tags"]["arm"]
        before = read_counters(stack)
        answers = _post_feedback(stack, [{"response": response, "reward": 1}] * 8)
        assert [a["outcome"] for a in answers].count("credited") == 1
        assert _moved(before, read_counters(stack)) == Counter({("funflix_impressions_total", arm): 1,
                                                               ("funflix_clicks_total", arm): 1})
        ignored = read_counters(stack)[("funflix_feedback_ignored_total", arm)]
        assert ignored - before.get(("funflix_feedback_ignored_total", arm), 0) == 7
