"""The model component in the serving environment: response form, tags, metrics, and feedback
credited once to the serving arm (as two gunicorn workers sharing one ledger would)."""

from __future__ import annotations

import pytest

from funflix.serving import metric_names

from .serving_python import ServingError

MODEL = """
from seldon_core.user_model import SeldonNotImplementedError
from seldon_core.utils import json_to_feedback, seldon_message_to_json

from funflix.serving.RecommenderModel import RecommenderModel


def make_model(arm="control"):
    model = RecommenderModel(arm=arm, models_root=models_root, ledger=f"{ledgers}/{arm}.sqlite")
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


def increments(message):
    return sorted([m.key, m.tags.get("reason", ""), m.value] for m in message.meta.metrics)
"""


@pytest.fixture()
def model_env(serving, quick_models_root, tmp_path):
    """The serving worker with ``make_model(arm)`` and the feedback helpers defined."""
    serving.run(MODEL, models_root=str(quick_models_root), ledgers=str(tmp_path))
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
                                         (metric_names.PREDICT_LATENCY, "TIMER", "control", None),
                                         (metric_names.IMPRESSIONS, "COUNTER", "control", 0),  # series from the start
                                         (metric_names.CLICKS, "COUNTER", "control", 0)}
    assert pending
    assert set(second) == {metric_names.RECOMMENDATIONS, metric_names.PREDICT_LATENCY}


def test_a_click_is_credited_once_to_the_serving_arm(model_env):
    first, retry, broadcast = model_env.run("""
control, other_worker, challenger = make_model("control"), make_model("control"), make_model("challenger")
response = served(control, puid="click-1")
replies = [model.send_feedback_raw(feedback(response, 1)) for model in (control, other_worker, challenger)]
result = [(outcome(reply), increments(reply)) for reply in replies]
""")
    assert first[0]["credited"] is True
    assert first[1] == sorted([[metric_names.IMPRESSIONS, "", 1.0], [metric_names.CLICKS, "", 1.0]])
    assert retry[0]["outcome"] == "duplicate"  # same ledger, another process
    assert retry[1] == [[metric_names.FEEDBACK_IGNORED, "duplicate", 1.0]]
    assert broadcast[0]["outcome"] == "other_arm"
    assert broadcast[1] == [[metric_names.FEEDBACK_IGNORED, "other_arm", 1.0]]


def test_a_reward_of_zero_counts_an_impression_without_a_click(model_env):
    increments = model_env.run("""
model = make_model()
result = increments(model.send_feedback_raw(feedback(served(model, puid="miss-1"), 0)))
""")
    assert increments == [[metric_names.IMPRESSIONS, "", 1.0]]


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
