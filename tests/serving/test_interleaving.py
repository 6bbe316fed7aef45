"""The interleaving design end to end: the team-draft COMBINER and both arms as real
seldon-core-microservice processes behind the gateway, with Seldon's combiner semantics."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from funflix.serving.team_draft import interleave, puid_generator

from .conftest import all_counters, make_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def istack(tmp_path_factory, quick_models_root, interleaving_values):
    home = tmp_path_factory.mktemp("interleaving-home")
    with make_stack(home, quick_models_root, config_path=interleaving_values) as running:
        yield running


def predict(http, stack, payload):
    return http.post(f"{stack.gateway_url}/api/v1.0/predictions", json=payload, timeout=10)


def feedback(http, stack, payload):
    return http.post(f"{stack.gateway_url}/api/v1.0/feedback", json=payload, timeout=10)


def delta(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)
            if after.get(k, 0) != before.get(k, 0)}


def arm_list(http, stack, name, user_id, k):
    arm = stack.component(name)
    answer = http.post(f"{arm.url}/predict", json={"jsonData": {"user_id": user_id, "k": k}}, timeout=10).json()
    return answer["jsonData"]["items"]


def test_the_served_list_is_the_team_draft_of_both_arms_seeded_by_the_puid(http, istack):
    request = {"jsonData": {"user_id": 7, "k": 10}, "meta": {"puid": "fixed-puid-1"}}
    body = predict(http, istack, request).json()
    data, meta = body["jsonData"], body["meta"]
    control, challenger = (arm_list(http, istack, name, 7, 10) for name in istack.config.arm_names)
    expected = interleave(control, challenger, puid_generator("fixed-puid-1"))
    assert data["items"] == expected.items and len(set(data["items"])) == 10
    assert meta["tags"]["teams"] == [istack.config.arm_names[t] for t in expected.teams] == data["teams"]
    assert meta["tags"]["arm"] == "interleaver" and meta["tags"]["design"] == "interleaving"
    assert meta["puid"] == "fixed-puid-1" and meta["routing"] == {"interleaver": -1}
    assert list(data["recommendations"]) == [str(i) for i in data["items"]]
    assert predict(http, istack, request).json()["jsonData"]["items"] == data["items"]  # a replay is the same list


def test_a_click_credits_the_team_of_the_clicked_item_exactly_once(http, istack):
    body = predict(http, istack, {"jsonData": {"user_id": 11, "k": 10}}).json()
    teams = body["meta"]["tags"]["teams"]
    clicked = body["jsonData"]["items"][3]
    team, other = teams[3], next(a for a in istack.config.arm_names if a != teams[3])
    message = {"request": {"jsonData": {"user_id": 11, "k": 10}}, "response": body, "reward": 1,
               "truth": {"jsonData": {"clicked": [clicked]}}}
    before = all_counters(istack)
    with ThreadPoolExecutor(8) as pool:  # retries arriving together, each broadcast to both arms
        answers = list(pool.map(lambda _: feedback(http, istack, message).status_code, range(16)))
    assert answers == [200] * 16
    change = delta(before, all_counters(istack))
    assert change == {("funflix_team_impressions_total", team): 1, ("funflix_team_impressions_total", other): 1,
                      ("funflix_team_clicks_total", team): 1,
                      ("funflix_team_outcomes_total", team): 1, ("funflix_team_outcomes_total", other): 1,
                      ("funflix_feedback_ignored_total", team): 15, ("funflix_feedback_ignored_total", other): 15}
    before = all_counters(istack)
    for _ in range(3):
        assert feedback(http, istack, message).status_code == 200
    assert delta(before, all_counters(istack)) == {("funflix_feedback_ignored_total", team): 3,
                                                   ("funflix_feedback_ignored_total", other): 3}
    assert ("funflix_impressions_total", team) not in change  # the A/B counters stay out of it
    outcomes = _outcomes(istack)
    assert outcomes[(team, "win")] >= 1 and outcomes[(other, "loss")] >= 1


def test_the_combiner_summarises_the_feedback_replies(http, istack):
    body = predict(http, istack, {"jsonData": {"user_id": 12, "k": 5}}).json()
    answer = feedback(http, istack, {"response": body, "reward": 0})
    assert answer.status_code == 200
    replies = answer.json()["jsonData"]["feedback"]
    assert sorted(r["arm"] for r in replies) == sorted(istack.config.arm_names)
    assert {r["team_outcome"] for r in replies} == {"no_click"} and answer.json()["jsonData"]["credited"]


def test_many_impressions_concurrently_are_credited_exactly_once_per_team(http, istack):
    bodies = [predict(http, istack, {"jsonData": {"user_id": 100 + i, "k": 10}}).json() for i in range(40)]
    expected_clicks = {name: 0 for name in istack.config.arm_names}
    messages = []
    before = all_counters(istack)
    for i, body in enumerate(bodies):
        if i % 4 == 0:
            messages.append({"response": body, "reward": 0})
            continue
        position = i % 10
        expected_clicks[body["meta"]["tags"]["teams"][position]] += 1
        messages.append({"response": body, "reward": 1,
                         "truth": {"jsonData": {"clicked": [body["jsonData"]["items"][position]]}}})
    with requests.Session() as session, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda m: feedback(session, istack, m), messages * 3))
    assert [a.status_code for a in answers] == [200] * len(answers)
    credited = [r for a in answers for r in a.json()["jsonData"]["feedback"] if r["credited"]]
    for name in istack.config.arm_names:
        mine = [r for r in credited if r["arm"] == name]
        assert len(mine) == 40 and len({r["puid"] for r in mine}) == 40  # once per impression and team
        assert sum(r["team_clicks"] for r in mine) == expected_clicks[name]
        ledger = istack.home / "serving" / f"feedback-{name}.sqlite"
        with sqlite3.connect(ledger) as db:
            puids = [b["meta"]["puid"] for b in bodies]
            rows = db.execute(f"SELECT count(*), sum(clicks) FROM ledger_team_credited WHERE puid IN "
                              f"({','.join('?' * 40)})", puids).fetchone()
        assert rows == (40, expected_clicks[name])  # the ledger holds each team's clicks
    change = delta(before, all_counters(istack))
    for name in istack.config.arm_names:
        assert change[("funflix_team_impressions_total", name)] == 40
        assert change.get(("funflix_team_clicks_total", name), 0) == expected_clicks[name]
        assert change[("funflix_feedback_ignored_total", name)] == 80  # two retries of each


@pytest.mark.parametrize("change, status, reason", [
    (lambda m: m.pop("truth"), 400, "needs the clicked item"),
    (lambda m: m.update(truth={"jsonData": {"clicked": [-5]}}), 400, "not in the served list"),
    (lambda m: m.update(truth={"jsonData": {"clicked": ["x"]}}), 400, "clicked items"),
    (lambda m: m.update(truth="nope"), 400, "truth must be an object"),
    (lambda m: m["response"]["meta"]["tags"].pop("teams"), 400, "one team per item"),
    (lambda m: m["response"]["meta"]["tags"].update(teams=["control"]), 400, "one team per item"),
    (lambda m: m["response"]["meta"].pop("puid"), 400, "puid"),
    (lambda m: m.update(reward=2), 400, "reward must be 0"),
    (lambda m: m.update(reward=0), 400, "cannot name clicked items"),
])
def test_bad_interleaved_feedback_gets_a_4xx_and_moves_no_counter(http, istack, change, status, reason):
    body = predict(http, istack, {"jsonData": {"user_id": 21, "k": 5}}).json()
    message = {"response": json.loads(json.dumps(body)), "reward": 1,
               "truth": {"jsonData": {"clicked": [body["jsonData"]["items"][0]]}}}
    change(message)
    before = all_counters(istack)
    answer = feedback(http, istack, message)
    assert answer.status_code == status and reason in answer.text
    assert delta(before, all_counters(istack)) == {}


def test_a_replayed_prediction_body_is_reproducible_but_new_puids_vary(http, istack):
    teams = {tuple(predict(http, istack, {"jsonData": {"user_id": 30, "k": 10}}).json()["meta"]["tags"]["teams"])
             for _ in range(12)}
    assert len(teams) > 1  # fresh puids draw fresh coins


def _outcomes(stack) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[str, str], float] = {}
    for component in stack.arms:
        for family in text_string_to_metric_families(requests.get(component.ledger_metrics_url, timeout=5).text):
            for sample in family.samples:
                if sample.name == "funflix_team_outcomes_total":
                    key = (sample.labels["arm"], sample.labels["outcome"])
                    found[key] = found.get(key, 0) + sample.value
    return found


def test_a_shared_postgresql_ledger_credits_each_team_once_per_list(tmp_path, quick_models_root, interleaving_values,
                                                                     postgres):
    """Both arms on one PostgreSQL ledger (as on a cluster): 30 lists, each feedback broadcast by the
    gateway three times and retried once on each arm directly (as an executor retrying one child
    would), 16 at a time; each team's counters move once per list."""
    url = postgres.create_database("funflix_interleaving_ledger")
    with make_stack(tmp_path / "home", quick_models_root, config_path=interleaving_values, ledger_url=url) as stack, \
            requests.Session() as session:
        bodies = [predict(session, stack, {"jsonData": {"user_id": 200 + i, "k": 10}}).json() for i in range(30)]
        expected = {name: 0 for name in stack.config.arm_names}
        messages = []
        for i, body in enumerate(bodies):
            message = {"response": body, "reward": 0}
            if i % 3:
                expected[body["meta"]["tags"]["teams"][i % 10]] += 1
                message = {"response": body, "reward": 1,
                           "truth": {"jsonData": {"clicked": [body["jsonData"]["items"][i % 10]]}}}
            messages.append(message)
        posts = [(f"{stack.gateway_url}/api/v1.0/feedback", m) for m in messages * 3]
        posts += [(f"{stack.component(name).url}/api/v1.0/feedback", m) for m in messages for name in expected]
        before = all_counters(stack)
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda post: session.post(post[0], json=post[1], timeout=10).status_code, posts))
        assert codes == [200] * len(posts)
        change = delta(before, all_counters(stack))
    for name, clicks in expected.items():
        assert change[("funflix_team_impressions_total", name)] == 30
        assert change.get(("funflix_team_clicks_total", name), 0) == clicks
        assert change[("funflix_team_outcomes_total", name)] == 30  # one outcome per list
        assert change[("funflix_feedback_ignored_total", name)] == 90  # 4 copies per list, 1 credited
    assert sum(expected.values()) == 20


def test_a_feedback_retried_after_an_arm_was_down_credits_each_team_once(http, istack):
    """One arm down: the broadcast answers 503 naming it (the other arm has credited its team); the
    site's retry, once the arm is back, credits the missing team and only that."""
    body = predict(http, istack, {"jsonData": {"user_id": 77, "k": 10}}).json()
    team = body["meta"]["tags"]["teams"][1]
    down = next(a for a in istack.config.arm_names if a != team)
    message = {"response": body, "reward": 1, "truth": {"jsonData": {"clicked": [body["jsonData"]["items"][1]]}}}
    before = all_counters(istack)
    istack.kill(down)
    try:
        answer = feedback(http, istack, message)
        assert answer.status_code == 503 and answer.json()["status"]["component"] == down
    finally:
        istack.restart(down)
    assert feedback(http, istack, message).status_code == 200
    change = {key: n for key, n in delta(before, all_counters(istack)).items()
              if key[0] != "funflix_recommendations_total"}  # Seldon's in-memory counter restarts with the arm
    assert change == {("funflix_team_impressions_total", team): 1, ("funflix_team_impressions_total", down): 1,
                      ("funflix_team_clicks_total", team): 1,
                      ("funflix_team_outcomes_total", team): 1, ("funflix_team_outcomes_total", down): 1,
                      ("funflix_feedback_ignored_total", team): 1}
