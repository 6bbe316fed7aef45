"""The unified endpoint end to end: the gateway in front of real seldon-core-microservice processes.

One stack per module (router, both arms, gateway, Prometheus), quick models trained once a session.
"""

from __future__ import annotations

import json
import math
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from funflix.serving import metric_names

from .conftest import sticky_arms

pytestmark = pytest.mark.slow


def predict(http, stack, payload, **kwargs):
    return http.post(f"{stack.gateway_url}/api/v1.0/predictions", json=payload, timeout=10, **kwargs)


def send_feedback(http, stack, payload):
    return http.post(f"{stack.gateway_url}/api/v1.0/feedback", json=payload, timeout=10)


def test_the_response_has_the_ranked_list_the_model_and_seldon_meta(http, stack):
    answer = predict(http, stack, {"jsonData": {"user_id": 1, "k": 5}})
    assert answer.status_code == 200
    body = answer.json()
    data, meta = body["jsonData"], body["meta"]
    assert list(data["recommendations"]) == [str(i) for i in data["items"]] and len(data["items"]) == 5
    assert data["scores"] == sorted(data["scores"], reverse=True)
    arm = meta["tags"]["arm"]
    assert meta["routing"] == {"ab-router": stack.config.arm_index(arm)}
    assert data["model"]["name"] == arm and meta["tags"]["model_version"] == data["model"]["version"]
    assert data["strategy"] == "personal" and len(meta["puid"]) >= 16
    ndarray = predict(http, stack, {"data": {"ndarray": [[1]]}}).json()
    assert ndarray["meta"]["tags"]["arm"] == arm and len(ndarray["jsonData"]["items"]) == 10
    assert ndarray["meta"]["puid"] != meta["puid"]
    cold = predict(http, stack, {"jsonData": {"user_id": 999_999}}).json()
    assert cold["jsonData"]["strategy"] == "popularity"


def test_the_same_user_always_gets_the_same_arm(http, stack):
    for user_id in range(1, 41):
        arms = {predict(http, stack, {"jsonData": {"user_id": user_id, "k": 3}}).json()["meta"]["tags"]["arm"]
                for _ in range(5)}
        assert len(arms) == 1, f"user {user_id} saw {arms}"


def test_the_split_through_the_gateway_matches_the_router(http, stack, serving):
    config = stack.config
    n = 300
    arms = [predict(http, stack, {"jsonData": {"user_id": u, "k": 1}}).json()["meta"]["routing"]["ab-router"]
            for u in range(5000, 5000 + n)]
    assert arms == sticky_arms(serving, config, range(5000, 5000 + n))
    share = arms.count(0) / n
    assert abs(share - config.splits[0]) < 4 * math.sqrt(config.splits[0] * (1 - config.splits[0]) / n)


def _delta(before, after):
    keys = set(before) | set(after)
    return {key: after.get(key, 0) - before.get(key, 0) for key in keys if after.get(key, 0) != before.get(key, 0)}


def test_a_click_counts_once_on_the_serving_arm_under_retries_and_broadcast(http, stack, read_counters):
    request = {"jsonData": {"user_id": 3, "k": 4}}
    response = predict(http, stack, request).json()
    arm = response["meta"]["tags"]["arm"]
    other = next(name for name in stack.config.arm_names if name != arm)
    before = read_counters(stack)
    for _ in range(3):  # retries of the same feedback
        assert send_feedback(http, stack, {"request": request, "response": response, "reward": 1}).status_code == 200
    broadcast = json.loads(json.dumps(response))
    del broadcast["meta"]["routing"]  # Seldon then sends the feedback to every child
    answer = send_feedback(http, stack, {"request": request, "response": broadcast, "reward": 1})
    assert answer.status_code == 200
    delta = _delta(before, read_counters(stack))
    assert delta[("funflix_impressions_total", arm)] == 1
    assert delta[("funflix_clicks_total", arm)] == 1
    assert ("funflix_impressions_total", other) not in delta and ("funflix_clicks_total", other) not in delta
    assert delta[("funflix_feedback_ignored_total", arm)] == 3  # two retries and the broadcast copy
    assert delta[("funflix_feedback_ignored_total", other)] == 1  # the broadcast copy for the other arm


def test_a_click_sent_only_by_broadcast_is_credited_to_the_serving_arm(http, stack, read_counters):
    response = predict(http, stack, {"jsonData": {"user_id": 4}}).json()
    arm = response["meta"]["tags"]["arm"]
    del response["meta"]["routing"]
    before = read_counters(stack)
    answer = send_feedback(http, stack, {"response": response, "reward": 1})
    assert answer.status_code == 200 and answer.json()["jsonData"]["arm"] == arm
    delta = _delta(before, read_counters(stack))
    assert {key for key in delta if key[0] != "funflix_feedback_ignored_total"} == {
        ("funflix_impressions_total", arm), ("funflix_clicks_total", arm)}


def test_rewards_of_zero_are_counted(http, stack, read_counters):
    response = predict(http, stack, {"jsonData": {"user_id": 5}}).json()
    arm = response["meta"]["tags"]["arm"]
    before = read_counters(stack)
    assert send_feedback(http, stack, {"response": response, "reward": 0}).status_code == 200
    delta = _delta(before, read_counters(stack))
    assert delta == {("funflix_impressions_total", arm): 1}  # an impression, no click


OVERSIZED = json.dumps({"jsonData": {"user_id": 1, "pad": "x" * 70_000}})


@pytest.mark.parametrize("body, status, reason", [
    ("{not json", 400, "malformed JSON"),
    ("[1, 2]", 400, "JSON object"),
    ('{"jsonData": {"user_id": "12"}}', 400, "user_id must be an integer"),
    ('{"jsonData": {"k": 5}}', 400, "missing user_id"),
    ('{"jsonData": {"user_id": 1, "k": 0}}', 400, "k must be in"),
    ('{"jsonData": {"user_id": 1, "k": -3}}', 400, "k must be in"),
    ('{"jsonData": {"user_id": 1, "k": 100000}}', 400, "k must be an integer in [1,"),
    ('{"jsonData": {"user_id": 1.5}}', 400, "user_id must be an integer"),
    ('{"jsonData": {"user_id": 123456789012345678901234567890}}', 400, "user_id must be in"),
    ('{"data": {"ndarray": [["abc"]]}}', 400, "must hold numbers"),
    ('{"jsonData": {"user_id": 1, "genres": ["Westerns-ish"]}}', 400, "unknown genre"),
    ('{"strData": "1"}', 400, "send jsonData"),
    ("[" * 60_000 + "]" * 60, 400, "malformed JSON"),
    (b'{"jsonData": {"user_id": "\xff"}}', 400, "malformed JSON"),
    (OVERSIZED, 413, "limit"),
])
def test_bad_predictions_get_a_4xx_json_and_move_no_counter(http, stack, read_counters, body, status, reason):
    before = read_counters(stack)
    answer = http.post(f"{stack.gateway_url}/api/v1.0/predictions", data=body,
                       headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == status
    assert reason in answer.json()["status"]["info"]
    assert read_counters(stack) == before


def _served(http, stack):
    return predict(http, stack, {"jsonData": {"user_id": 6}}).json()


@pytest.mark.parametrize("change, status, reason", [
    (lambda f: f.pop("response"), 400, "served response"),
    (lambda f: f["response"].pop("meta"), 400, "served response"),
    (lambda f: f["response"]["meta"].pop("puid"), 400, "puid"),
    (lambda f: f.update(reward=2), 400, "reward must be 0"),
    (lambda f: f.update(reward="1"), 400, "reward must be 0"),
    (lambda f: f.update(reward=True), 400, "reward must be 0"),
    (lambda f: f.pop("reward"), 400, "reward must be 0"),
    (lambda f: f["response"]["meta"]["tags"].update(arm="treatment"), 400, "unknown arm"),
    (lambda f: f["response"]["meta"].update(routing={"ab-router": 7}), 400, "unknown arm"),
    (lambda f: f["response"]["meta"].update(routing="control"), 400, "meta.routing must be an object"),
    (lambda f: (f["response"]["meta"].pop("routing"), f["response"]["meta"].pop("tags")), 400, "neither"),
    (lambda f: f.update(request="user 6"), 400, "request must be"),
    (lambda f: f.update(padding="x" * 70_000), 413, "limit"),
])
def test_bad_feedback_gets_a_4xx_json_and_moves_no_counter(http, stack, read_counters, change, status, reason):
    payload = {"request": {"jsonData": {"user_id": 6}}, "response": _served(http, stack), "reward": 1}
    change(payload)
    before = read_counters(stack)
    answer = send_feedback(http, stack, payload)
    assert answer.status_code == status
    assert reason in answer.json()["status"]["info"]
    assert read_counters(stack) == before


def test_routing_and_tags_that_disagree_are_refused(http, stack):
    response = _served(http, stack)
    index = response["meta"]["routing"]["ab-router"]
    response["meta"]["routing"]["ab-router"] = 1 - index
    answer = send_feedback(http, stack, {"response": response, "reward": 1})
    assert answer.status_code == 400 and "meta.tags.arm" in answer.json()["status"]["info"]


def test_unknown_paths_and_methods_answer_json(http, stack):
    missing = http.get(f"{stack.gateway_url}/api/v1.0/nothing", timeout=5)
    assert missing.status_code == 404 and missing.json()["status"]["reason"] == "NOT_FOUND"
    wrong_method = http.get(f"{stack.gateway_url}/api/v1.0/predictions", timeout=5)
    assert wrong_method.status_code == 405 and "status" in wrong_method.json()


def test_components_answer_bad_input_with_400_json_directly(http, stack):
    model = stack.component("control")
    bad = http.post(f"{model.url}/api/v1.0/predictions", json={"jsonData": {"user_id": "x"}}, timeout=5)
    assert bad.status_code == 400 and "user_id must be an integer" in bad.json()["status"]["info"]
    no_response = http.post(f"{model.url}/api/v1.0/feedback", json={"reward": 1}, timeout=5)
    assert no_response.status_code == 400 and "served response" in no_response.json()["status"]["info"]
    router = http.post(f"{stack.router.url}/route", json={"jsonData": {"k": 1}}, timeout=5)
    assert router.status_code == 400 and "missing user_id" in router.json()["status"]["info"]
    for component in (model, stack.router):
        path = "/route" if component is stack.router else "/api/v1.0/predictions"
        huge = http.post(f"{component.url}{path}", data=OVERSIZED, timeout=5,
                         headers={"Content-Type": "application/json"})
        assert huge.status_code == 413 and "limit" in huge.json()["status"]["info"]
        deep = http.post(f"{component.url}{path}", data="[" * 60_000, timeout=5,
                         headers={"Content-Type": "application/json"})
        assert deep.status_code == 400 and "nested too deeply" in deep.json()["status"]["info"]


def test_component_metrics_scrape_as_prometheus_text_with_arms_told_apart(http, stack):
    for user_id in range(20, 40):
        predict(http, stack, {"jsonData": {"user_id": user_id}})
    for component in stack.arms:
        families = {f.name: f for f in text_string_to_metric_families(http.get(component.metrics_url).text)}
        served = families[metric_names.RECOMMENDATIONS]
        assert {s.labels["model_name"] for s in served.samples} == {component.name}
        assert {s.labels["arm"] for s in served.samples} == {component.name}
        version = http.get(f"{component.url}/health/status").json()["jsonData"]["version"]
        assert {s.labels["model_version"] for s in served.samples} == {version}  # Seldon's label: the artifact
        latency = families[metric_names.PREDICT_LATENCY]
        assert latency.type == "histogram"
        assert any(s.name.endswith("_count") and s.value > 0 for s in latency.samples)
    gateway = {f.name: f for f in text_string_to_metric_families(http.get(f"{stack.gateway_url}/prometheus").text)}
    arms = {s.labels["arm"] for s in gateway[metric_names.GATEWAY_REQUESTS].samples if s.labels.get("code") == "200"}
    assert arms >= set(stack.config.arm_names)


def test_prometheus_scrapes_every_target(http, stack):
    deadline = time.monotonic() + 30
    while True:
        result = http.get(f"{stack.prometheus_url}/api/v1/query", params={"query": "up"}, timeout=5).json()
        up = {(r["metric"]["job"], r["metric"].get("component", "")): r["value"][1] for r in result["data"]["result"]}
        if len(up) == 1 + len(stack.components) and set(up.values()) == {"1"}:
            break
        assert time.monotonic() < deadline, f"targets not all up: {up}"
        time.sleep(1)
    query = f'sum by (model_name) ({metric_names.RECOMMENDATIONS}_total)'
    deadline = time.monotonic() + 20
    while True:
        result = http.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5).json()
        if {r["metric"]["model_name"] for r in result["data"]["result"]} == set(stack.config.arm_names):
            break
        assert time.monotonic() < deadline, result
        time.sleep(1)


def test_the_generated_prometheus_config_passes_promtool(stack):
    path = stack.home / "prometheus" / "prometheus.yml"
    checked = subprocess.run(["/usr/bin/promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_readiness_lists_every_component(http, stack):
    ready = http.get(f"{stack.gateway_url}/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["components"] == {name: "ok" for name in ["ab-router", *stack.config.arm_names]}
    assert http.get(f"{stack.gateway_url}/api/v1.0/health/status", timeout=5).json() == ready.json()
    assert http.get(f"{stack.gateway_url}/live", timeout=5).json() == {"status": "live"}
    model = http.get(f"{stack.component('challenger').url}/health/status", timeout=5).json()["jsonData"]
    assert model["arm"] == "challenger" and model["version"].startswith("v") and model["n_items"] > 0
