"""The model component in the serving environment: response form, tags, metrics, and feedback
credited once to the serving arm (as two gunicorn workers sharing one ledger would)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from funflix.serving import metric_names

from .serving_python import ServingError

MODEL = """
from seldon_core.user_model import SeldonNotImplementedError
from seldon_core.utils import json_to_feedback, seldon_message_to_json

from funflix.serving.RecommenderModel import RecommenderModel


def make_model(arm="control", replica="pod-0"):
    '''One arm's component; every one made in a test shares one ledger file (as a pod's workers do).'''
    model = RecommenderModel(arm=arm, models_root=models_root, ledger=ledger, replica=replica)
    model.load()
    return model


def served(model, user_id=1, k=5, puid="p-1"):
    '''What the gateway would have answered: the model's jsonData plus meta (puid, tags, routing).'''
    answer = model.predict({"user_id": user_id, "k": k}, []).data
    return {"jsonData": answer, "meta": {"puid": puid, "tags": model.tags(), "routing": {"ab-router": 0}}}


def nothing_pending(model):
    '''Seldon's "nothing to report" (no metrics update) from the model's metrics().'''
    try:
        model.metrics()
    except SeldonNotImplementedError:
        return True
    return False


def outcome(message):
    return seldon_message_to_json(message)["jsonData"]


def feedback(response, reward):
    return json_to_feedback({"request": {"jsonData": {"user_id": 1, "k": 5}}, "response": response, "reward": reward})


def ledger_text(model):
    '''What the component's ``GET /ledger-metrics`` route serves.'''
    return model.ledger_metrics().get_data(as_text=True)
"""


@pytest.fixture()
def model_env(serving, quick_models_root, tmp_path):
    """The serving worker with ``make_model(arm)`` and the feedback helpers defined."""
    serving.run(MODEL, models_root=str(quick_models_root), ledger=str(tmp_path / "ledger.sqlite"))
    return serving


def test_predict_returns_the_ordered_list_with_scores_and_the_model(model_env):
    answer, cold, tags, health = model_env.run("""
import numpy as np
model = make_model("challenger")
result = (model.predict({"user_id": 1, "k": 5}, []).data, model.predict(np.array([[10**6]]), []).data,
          model.tags(), model.health_status())
""")
    assert list(answer["recommendations"]) == [str(item) for item in answer["items"]]
    assert list(answer["recommendations"].values()) == answer["scores"]
    assert answer["scores"] == sorted(answer["scores"], reverse=True) and len(answer["items"]) == 5
    assert answer["model"]["name"] == "challenger" and answer["model"]["version"].startswith("v")
    assert answer["strategy"] == "personal"
    assert cold["strategy"] == "popularity"  # unknown user: cold start
    version = answer["model"]["version"]
    assert tags == {"arm": "challenger", "model_name": "challenger", "model_version": version}
    assert health["n_items"] > 0


@pytest.mark.parametrize("features", [{"user_id": 1, "k": 10**6}, {"user_id": "1"}, {"k": 2}, "1"])
def test_bad_requests_are_400s_and_count_nothing(model_env, features):
    model_env.run("model = make_model()")
    with pytest.raises(ServingError) as caught:
        model_env.run("model.predict(features, [])", features=features)
    assert caught.value.type == "SeldonMicroserviceException" and caught.value.status_code == 400
    assert model_env.run("result = nothing_pending(model)")


def test_metrics_report_each_request_once(model_env):
    first, pending, second = model_env.run("""
model = make_model()
first = [(m["key"], m["type"], m["tags"]["arm"], m["value"] if m["type"] == "COUNTER" else None)
         for m in model.predict({"user_id": 1}, []).metrics]
pending = nothing_pending(model)  # Seldon's own metrics() call after the request
result = first, pending, [m["key"] for m in model.predict({"user_id": 1}, []).metrics]
""")
    assert {tuple(m) for m in first} == {(metric_names.RECOMMENDATIONS, "COUNTER", "control", 1),
                                         (metric_names.PREDICT_LATENCY, "TIMER", "control", None)}
    assert pending
    assert set(second) == {metric_names.RECOMMENDATIONS, metric_names.PREDICT_LATENCY}


def ledger_counters(text: str) -> dict:
    """``{(metric, reason or outcome): value}`` of a component's ``/ledger-metrics`` text."""
    return {(s.name, s.labels.get("reason") or s.labels.get("outcome", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name.endswith("_total")}


def zeros(**moved) -> dict:
    counters = {(f"{metric_names.IMPRESSIONS}_total", ""): 0, (f"{metric_names.CLICKS}_total", ""): 0,
                (f"{metric_names.FEEDBACK_IGNORED}_total", "duplicate"): 0,
                (f"{metric_names.FEEDBACK_IGNORED}_total", "other_arm"): 0,
                (f"{metric_names.TEAM_IMPRESSIONS}_total", ""): 0, (f"{metric_names.TEAM_CLICKS}_total", ""): 0,
                **{(f"{metric_names.TEAM_OUTCOMES}_total", o): 0 for o in ("win", "loss", "tie", "no_click")}}
    names = {"impressions": metric_names.IMPRESSIONS, "clicks": metric_names.CLICKS}
    for key, value in moved.items():
        name = names.get(key, metric_names.FEEDBACK_IGNORED)
        counters[(f"{name}_total", "" if key in names else key)] = value
    return counters


def test_a_click_is_credited_once_to_the_serving_arm(model_env):
    start, first, retry, broadcast = model_env.run("""
control, other_worker, challenger = make_model("control"), make_model("control"), make_model("challenger")
start = ledger_text(control)
response = served(control, puid="click-1")
first = control.send_feedback_raw(feedback(response, 1))
first = (outcome(first), len(first.meta.metrics), ledger_text(control))
retry = other_worker.send_feedback_raw(feedback(response, 1))  # same ledger, another process
retry = (outcome(retry), ledger_text(other_worker))
broadcast = challenger.send_feedback_raw(feedback(response, 1))
broadcast = (outcome(broadcast), ledger_text(challenger), nothing_pending(control))
result = start, first, retry, broadcast
""")
    assert ledger_counters(start) == zeros()  # series exist from the start
    assert first[0]["credited"] is True and first[1] == 0  # no metrics in the reply: the ledger counts
    assert ledger_counters(first[2]) == zeros(impressions=1, clicks=1)
    assert retry[0]["outcome"] == "duplicate"
    assert ledger_counters(retry[1]) == zeros(impressions=1, clicks=1, duplicate=1)  # the same replica
    assert broadcast[0]["outcome"] == "other_arm"
    assert ledger_counters(broadcast[1]) == zeros(other_arm=1)
    assert broadcast[2]


def test_each_replica_exports_its_arms_totals(model_env):
    first, second, pod_0, pod_1 = model_env.run("""
pod_0, pod_1 = make_model("control", "pod-0"), make_model("control", "pod-1")
response = served(pod_0, puid="retried-1")
first, second = outcome(pod_0.send_feedback_raw(feedback(response, 1))), outcome(pod_1.send_feedback_raw(feedback(response, 1)))
result = first, second, ledger_text(pod_0), ledger_text(pod_1)
""")
    assert first["credited"] is True
    assert second["outcome"] == "duplicate"  # one shared ledger
    # one shared ledger: both report the arm's one impression, one click and one duplicate
    assert ledger_counters(pod_0) == ledger_counters(pod_1) == zeros(impressions=1, clicks=1, duplicate=1)


def test_a_reward_of_zero_counts_an_impression_without_a_click(model_env):
    text = model_env.run("""
model = make_model()
model.send_feedback_raw(feedback(served(model, puid="miss-1"), 0))
result = ledger_text(model)
""")
    assert ledger_counters(text) == zeros(impressions=1)


@pytest.mark.parametrize("change, reason", [
    ('response["meta"].pop("puid")', "served response"),
    ('response["meta"].pop("tags")', "meta.tags.arm"),
    ('response["meta"]["tags"].update(arm=3)', "meta.tags.arm"),
])
def test_feedback_without_a_served_response_is_a_400(model_env, change, reason):
    model_env.run("model = make_model()")
    with pytest.raises(ServingError) as caught:
        model_env.run(f"response = served(model)\n{change}\nmodel.send_feedback_raw(feedback(response, 1))")
    assert caught.value.status_code == 400 and reason in caught.value.message
    with pytest.raises(ServingError) as caught:
        model_env.run("model.send_feedback_raw(feedback(served(model), 0.5))")
    assert "reward must be 0" in caught.value.message
    assert model_env.run("result = nothing_pending(model)")


def test_bad_graph_parameters_fail_at_start(model_env):
    with pytest.raises(ServingError, match="arm") as caught:
        model_env.run('RecommenderModel(arm="Control!")')
    assert caught.value.type == "ValueError"
    with pytest.raises(ServingError) as caught:
        model_env.run('RecommenderModel(arm="control", version="v0-missing", models_root=models_root).load()')
    assert caught.value.type == "FileNotFoundError"


def test_a_failing_ledger_is_a_503_and_counts_nothing(model_env):
    model_env.run("""
model = make_model()
with model.ledger.engine.begin() as conn:  # the database loses its tables (a broken or foreign database)
    conn.exec_driver_sql("DROP TABLE ledger_tallies")
""")
    with pytest.raises(ServingError) as caught:
        model_env.run('model.send_feedback_raw(feedback(served(model, puid="lost-1"), 1))')
    assert caught.value.status_code == 503 and "feedback ledger unavailable" in caught.value.message
    with pytest.raises(ServingError) as caught:
        model_env.run("model.ledger_metrics()")
    assert caught.value.status_code == 503
    credited = model_env.run("""
with model.ledger.engine.connect() as conn:  # the credit was rolled back with its tally
    result = conn.exec_driver_sql("SELECT count(*) FROM ledger_credited").scalar()
""")
    assert credited == 0
