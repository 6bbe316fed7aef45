"""Two replicas of one arm share a PostgreSQL ledger: a feedback retried on the other replica counts
once, and each replica's counters are the arm's totals (the dashboard takes one: max by arm), even
for what the other replica credited."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from funflix.serving.processes import free_port_block
from funflix.serving.stack import Component

from .conftest import counters, make_stack

pytestmark = pytest.mark.slow

LISTS = 40
ARM = "control"


def _replica_counters(replicas) -> list[dict]:
    return [counters(replica.ledger_metrics_url) for replica in replicas]


def test_feedback_alternating_between_two_replicas_counts_once(tmp_path, quick_models_root, postgres):
    url = postgres.create_database("funflix_ledger")
    with make_stack(tmp_path / "home", quick_models_root, ledger_url=url) as stack:
        first = stack.component(ARM)
        second = Component(ARM, free_port_block(1), free_port_block(1))
        replica = stack.arm_process(ARM, component=second, replica=f"{ARM}-1")
        stack.processes["second replica"] = replica
        replica.start()
        replica.wait_healthy(time.monotonic() + stack.startup_timeout)
        replicas = [first, second]

        served = []
        for user_id in range(1, 400):
            response = requests.post(f"{stack.gateway_url}/api/v1.0/predictions",
                                     json={"jsonData": {"user_id": user_id, "k": 3}}, timeout=10).json()
            if response["meta"]["tags"]["arm"] == ARM:
                served.append(response)
            if len(served) == LISTS:
                break
        posts = []  # each list's feedback twice (a retry), the copies on different replicas, either one first
        for i, response in enumerate(served):
            order = replicas if i % 2 else replicas[::-1]
            posts += [(order[0], response, i % 3 == 0), (order[1], response, i % 3 == 0)]

        def post(job):
            replica, response, clicked = job
            answer = requests.post(f"{replica.url}/api/v1.0/feedback",
                                   json={"response": response, "reward": int(clicked)}, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()["jsonData"]["outcome"]

        with ThreadPoolExecutor(16) as pool:
            outcomes = Counter(pool.map(post, posts))
        assert outcomes == {"credited": LISTS, "duplicate": LISTS}

        with sa.create_engine(url).connect() as conn:  # both replicas credited some of the lists
            by_replica = dict(conn.execute(sa.text("SELECT replica, count(*) FROM ledger_credited GROUP BY replica")).all())
        assert set(by_replica) == {ARM, f"{ARM}-1"} and min(by_replica.values()) > 0, by_replica
        clicks = sum(i % 3 == 0 for i in range(LISTS))
        for total in _replica_counters(replicas):
            assert total[("funflix_impressions_total", ARM)] == LISTS
            assert total[("funflix_clicks_total", ARM)] == clicks
            assert total[("funflix_feedback_ignored_total", ARM)] == LISTS  # the retries, as duplicates
        replica.stop()  # a replica gone: what it credited is still in the survivor's counters
        (survivor,) = _replica_counters([first])
        assert survivor[("funflix_impressions_total", ARM)] == LISTS
