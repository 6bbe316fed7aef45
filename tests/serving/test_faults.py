"""Faults: a model component killed mid-traffic, or frozen (timeouts), gives 503s naming it for its
share of users only; the other arm keeps serving, and everything recovers when it returns."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from .conftest import make_stack, sticky_arms

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory, quick_models_root):
    with make_stack(tmp_path_factory.mktemp("faults-home"), quick_models_root, timeout=2.0) as running:
        yield running


@pytest.fixture(scope="module")
def users_by_arm(stack, serving_worker):
    config = stack.config
    found: dict[str, list[int]] = {name: [] for name in config.arm_names}
    for user_id, arm in zip(range(1, 200), sticky_arms(serving_worker, config, range(1, 200))):
        found[config.arm_names[arm]].append(user_id)
    return {name: users[:10] for name, users in found.items()}


class Traffic(threading.Thread):
    """Requests for the given users in a loop, recording (time, user, status, body)."""

    def __init__(self, url: str, users: list[int]):
        super().__init__(daemon=True)
        self.url, self.users = url, users
        self.results: list[tuple[float, int, int, dict]] = []
        self.stopping = threading.Event()

    def run(self):
        with requests.Session() as http:
            while not self.stopping.is_set():
                for user_id in self.users:
                    answer = http.post(f"{self.url}/api/v1.0/predictions", json={"jsonData": {"user_id": user_id}},
                                       timeout=10)
                    self.results.append((time.monotonic(), user_id, answer.status_code, answer.json()))

    def stop(self):
        self.stopping.set()
        self.join(30)


def test_killing_a_model_mid_traffic_fails_only_its_share_and_recovers(stack, users_by_arm):
    control, challenger = users_by_arm["control"], users_by_arm["challenger"]
    traffic = Traffic(stack.gateway_url, [u for pair in zip(control, challenger) for u in pair])
    traffic.start()
    time.sleep(0.5)
    stack.kill("control")
    killed_at = time.monotonic()
    time.sleep(1.0)
    stack.restart("control")
    back_at = time.monotonic()
    time.sleep(0.5)
    traffic.stop()

    failed = [(t, user, status, body) for t, user, status, body in traffic.results if status != 200]
    assert failed, "no request failed while control was down"
    assert all(status == 503 and body["status"]["component"] == "control" and user in control
               for _, user, status, body in failed)
    assert all(killed_at - 0.5 <= t <= back_at for t, *_ in failed)
    assert all(status == 200 for _, user, status, _ in traffic.results if user in challenger)
    after = [status for t, user, status, _ in traffic.results if t > back_at and user in control]
    assert after and set(after) == {200}


def test_a_frozen_model_times_out_into_503s_and_recovers(stack, users_by_arm):
    group = stack.processes["challenger"].process.pid
    http = requests.Session()
    os.killpg(group, signal.SIGSTOP)
    try:
        started = time.monotonic()
        slow = http.post(f"{stack.gateway_url}/api/v1.0/predictions",
                         json={"jsonData": {"user_id": users_by_arm["challenger"][0]}}, timeout=10)
        assert slow.status_code == 503
        assert slow.json()["status"]["component"] == "challenger"
        assert "did not answer within 2 s" in slow.json()["status"]["info"]
        assert time.monotonic() - started < 5
        fine = http.post(f"{stack.gateway_url}/api/v1.0/predictions",
                         json={"jsonData": {"user_id": users_by_arm["control"][0]}}, timeout=10)
        assert fine.status_code == 200  # the gateway kept serving the other arm
        ready = http.get(f"{stack.gateway_url}/ready", timeout=10)
        assert ready.status_code == 503 and ready.json()["components"]["challenger"] != "ok"
    finally:
        os.killpg(group, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while http.post(f"{stack.gateway_url}/api/v1.0/predictions",
                    json={"jsonData": {"user_id": users_by_arm["challenger"][0]}}, timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "challenger did not recover"
        time.sleep(0.2)


def test_feedback_to_a_down_model_is_a_503_naming_it(stack, users_by_arm):
    http = requests.Session()
    served = http.post(f"{stack.gateway_url}/api/v1.0/predictions",
                       json={"jsonData": {"user_id": users_by_arm["control"][1]}}, timeout=10).json()
    stack.kill("control")
    try:
        answer = http.post(f"{stack.gateway_url}/api/v1.0/feedback", json={"response": served, "reward": 1},
                           timeout=10)
        assert answer.status_code == 503 and answer.json()["status"]["component"] == "control"
    finally:
        stack.restart("control")
    again = http.post(f"{stack.gateway_url}/api/v1.0/feedback", json={"response": served, "reward": 1}, timeout=10)
    assert again.status_code == 200 and again.json()["jsonData"]["credited"] is True


def test_a_down_router_is_a_503_naming_it_until_it_returns(stack, users_by_arm):
    http = requests.Session()
    request = {"jsonData": {"user_id": users_by_arm["control"][2]}}
    stack.kill("ab-router")
    try:
        answer = http.post(f"{stack.gateway_url}/api/v1.0/predictions", json=request, timeout=10)
        assert answer.status_code == 503 and answer.json()["status"]["component"] == "ab-router"
    finally:
        stack.restart("ab-router")
    assert http.post(f"{stack.gateway_url}/api/v1.0/predictions", json=request, timeout=10).status_code == 200
