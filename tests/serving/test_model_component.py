"""The model component in-process: response form, tags, metrics, and feedback credited once to
the serving arm (as two gunicorn workers sharing one ledger would)."""

from __future__ import annotations

import numpy as np
import pytest
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonNotImplementedError
from prometheus_client.parser import text_string_to_metric_families
from seldon_core.utils import json_to_feedback, seldon_message_to_json

from funflix.serving import metric_names
from funflix.serving.RecommenderModel import RecommenderModel


@pytest.fixture()
def make_model(quick_models_root, tmp_path):
    def make(arm="control", replica="pod-0"):
        model = RecommenderModel(arm=arm, models_root=str(quick_models_root), ledger=str(tmp_path / "ledger.sqlite"),
                                 replica=replica)
        model.load()
        return model
    return make


def served(model, user_id=1, k=5, puid="p-1"):
    """What the gateway would have answered: the model's jsonData plus meta (puid, tags, routing)."""
    answer = model.predict({"user_id": user_id, "k": k}, []).data
    return {"jsonData": answer, "meta": {"puid": puid, "tags": model.tags(), "routing": {"ab-router": 0}}}


def assert_nothing_pending(model):
    with pytest.raises(SeldonNotImplementedError):  # Seldon's "nothing to report": no metrics update
        model.metrics()


def outcome(message) -> dict:
    return seldon_message_to_json(message)["jsonData"]


def feedback(response, reward):
    return json_to_feedback({"request": {"jsonData": {"user_id": 1, "k": 5}}, "response": response, "reward": reward})


def test_predict_returns_the_ordered_list_with_scores_and_the_model(make_model):
    model = make_model("challenger")
    answer = model.predict({"user_id": 1, "k": 5}, []).data
    assert list(answer["recommendations"]) == [str(item) for item in answer["items"]]
    assert list(answer["recommendations"].values()) == answer["scores"]
    assert answer["scores"] == sorted(answer["scores"], reverse=True) and len(answer["items"]) == 5
    assert answer["model"]["name"] == "challenger" and answer["model"]["version"].startswith("v")
    assert answer["strategy"] == "personal"
    assert model.predict(np.array([[10**6]]), []).data["strategy"] == "popularity"  # unknown user: cold start
    version = answer["model"]["version"]
    assert model.tags() == {"arm": "challenger", "model_name": "challenger", "model_version": version}
    assert model.health_status()["n_items"] > 0


@pytest.mark.parametrize("features", [{"user_id": 1, "k": 10**6}, {"user_id": "1"}, {"k": 2}, "1"])
def test_bad_requests_are_400s_and_count_nothing(make_model, features):
    model = make_model()
    with pytest.raises(SeldonMicroserviceException) as caught:
        model.predict(features, [])
    assert caught.value.status_code == 400
    assert_nothing_pending(model)


def test_metrics_report_each_request_once(make_model):
    model = make_model()
    response = model.predict({"user_id": 1}, [])
    first = {(m["key"], m["type"], m["tags"]["arm"], m["value"] if m["type"] == "COUNTER" else None)
             for m in response.metrics}
    assert first == {(metric_names.RECOMMENDATIONS, "COUNTER", "control", 1),
                     (metric_names.PREDICT_LATENCY, "TIMER", "control", None)}
    assert_nothing_pending(model)  # Seldon's own metrics() call after the request
    second = model.predict({"user_id": 1}, []).metrics
    assert {m["key"] for m in second} == {metric_names.RECOMMENDATIONS, metric_names.PREDICT_LATENCY}


def ledger_counters(model) -> dict:
    """``{(metric, reason): value}`` as the component's ledger route serves them."""
    text = model.ledger_metrics().get_data(as_text=True)
    return {(s.name, s.labels.get("reason", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name.endswith("_total")}


def zeros(**moved) -> dict:
    counters = {(f"{metric_names.IMPRESSIONS}_total", ""): 0, (f"{metric_names.CLICKS}_total", ""): 0,
                (f"{metric_names.FEEDBACK_IGNORED}_total", "duplicate"): 0,
                (f"{metric_names.FEEDBACK_IGNORED}_total", "other_arm"): 0}
    names = {"impressions": metric_names.IMPRESSIONS, "clicks": metric_names.CLICKS}
    for key, value in moved.items():
        name = names.get(key, metric_names.FEEDBACK_IGNORED)
        counters[(f"{name}_total", "" if key in names else key)] = value
    return counters


def test_a_click_is_credited_once_to_the_serving_arm(make_model):
    control, other_worker, challenger = make_model("control"), make_model("control"), make_model("challenger")
    assert ledger_counters(control) == zeros()  # series exist from the start
    response = served(control, puid="click-1")
    first = control.send_feedback_raw(feedback(response, 1))
    assert outcome(first)["credited"] is True and not first.meta.metrics
    assert ledger_counters(control) == zeros(impressions=1, clicks=1)
    retry = other_worker.send_feedback_raw(feedback(response, 1))  # same ledger, another process
    assert outcome(retry)["outcome"] == "duplicate"
    assert ledger_counters(other_worker) == zeros(impressions=1, clicks=1, duplicate=1)  # the same replica
    broadcast = challenger.send_feedback_raw(feedback(response, 1))
    assert outcome(broadcast)["outcome"] == "other_arm"
    assert ledger_counters(challenger) == zeros(other_arm=1)
    assert_nothing_pending(control)


def test_each_replica_exports_what_it_credited(make_model):
    pod_0, pod_1 = make_model("control", "pod-0"), make_model("control", "pod-1")
    response = served(pod_0, puid="retried-1")
    assert outcome(pod_0.send_feedback_raw(feedback(response, 1)))["credited"] is True
    assert outcome(pod_1.send_feedback_raw(feedback(response, 1)))["outcome"] == "duplicate"  # one shared ledger
    assert ledger_counters(pod_0) == zeros(impressions=1, clicks=1)
    assert ledger_counters(pod_1) == zeros(duplicate=1)  # summed over replicas: one impression, one click


def test_a_reward_of_zero_counts_an_impression_without_a_click(make_model):
    model = make_model()
    model.send_feedback_raw(feedback(served(model, puid="miss-1"), 0))
    assert ledger_counters(model) == zeros(impressions=1)


@pytest.mark.parametrize("change, reason", [
    (lambda r: r["meta"].pop("puid"), "served response"),
    (lambda r: r["meta"].pop("tags"), "meta.tags.arm"),
    (lambda r: r["meta"]["tags"].update(arm=3), "meta.tags.arm"),
])
def test_feedback_without_a_served_response_is_a_400(make_model, change, reason):
    model = make_model()
    response = served(model)
    change(response)
    with pytest.raises(SeldonMicroserviceException) as caught:
        model.send_feedback_raw(feedback(response, 1))
    assert caught.value.status_code == 400 and reason in caught.value.message
    with pytest.raises(SeldonMicroserviceException) as caught:
        model.send_feedback_raw(feedback(served(model), 0.5))
    assert "reward must be 0" in caught.value.message
    assert_nothing_pending(model)


def test_bad_graph_parameters_fail_at_start(quick_models_root):
    with pytest.raises(ValueError, match="arm"):
        RecommenderModel(arm="Control!")
    with pytest.raises(FileNotFoundError):
        RecommenderModel(arm="control", version="v0-missing", models_root=str(quick_models_root)).load()


def test_a_failing_ledger_is_a_503_and_counts_nothing(make_model):
    model = make_model()
    with model.ledger.engine.begin() as conn:  # the database loses its tables (a broken or foreign database)
        conn.exec_driver_sql("DROP TABLE ledger_tallies")
    with pytest.raises(SeldonMicroserviceException) as caught:
        model.send_feedback_raw(feedback(served(model, puid="lost-1"), 1))
    assert caught.value.status_code == 503 and "feedback ledger unavailable" in caught.value.message
    with pytest.raises(SeldonMicroserviceException) as caught:
        model.ledger_metrics()
    assert caught.value.status_code == 503
    with model.ledger.engine.connect() as conn:  # the credit was rolled back with its tally
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_credited").scalar() == 0
