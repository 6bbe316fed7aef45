"""The router in-process: stickiness, the split within binomial error, fewest users moved on a
split change, per-request random mode, Thompson sampling, and bad input as 400s."""

from __future__ import annotations

import math

import numpy as np
import pytest
from seldon_core.flask_utils import SeldonMicroserviceException

from funflix.serving.ABRouter import ABRouter, user_point

N_USERS = 10_000


def route(router: ABRouter, user_id: int) -> int:
    return router.route({"user_id": user_id, "k": 10}, [])


def test_a_user_always_gets_the_same_arm():
    router = ABRouter(mode="sticky", salt="s")
    for user_id in range(200):
        arms = {route(router, user_id) for _ in range(20)}
        assert len(arms) == 1
    assert route(ABRouter(mode="sticky", salt="s"), 123) == route(router, 123)  # also across restarts


@pytest.mark.parametrize("split", [(0.5, 0.5), (0.8, 0.2), (0.3, 0.7)])
def test_the_split_holds_within_binomial_error_over_10000_users(split):
    router = ABRouter(mode="sticky", split=",".join(map(str, split)), salt="experiment-7")
    share = np.mean([route(router, user_id) == 0 for user_id in range(N_USERS)])
    sigma = math.sqrt(split[0] * split[1] / N_USERS)
    assert abs(share - split[0]) < 4 * sigma


def test_changing_the_split_moves_the_fewest_users():
    before = ABRouter(mode="sticky", split="0.5,0.5", salt="s")
    after = ABRouter(mode="sticky", split="0.6,0.4", salt="s")
    moved = [(route(before, u), route(after, u)) for u in range(N_USERS) if route(before, u) != route(after, u)]
    assert all(old == 1 and new == 0 for old, new in moved)  # only into the arm that grew
    assert abs(len(moved) / N_USERS - 0.1) < 4 * math.sqrt(0.1 * 0.9 / N_USERS)  # 10%, the minimum


def test_a_new_salt_reshuffles_users():
    a, b = ABRouter(salt="one"), ABRouter(salt="two")
    same = np.mean([route(a, u) == route(b, u) for u in range(2000)])
    assert 0.4 < same < 0.6
    assert 0.0 <= user_point("x", 1) < 1.0


def test_random_mode_draws_per_request_like_random_abtest():
    router = ABRouter(mode="random", split="0.5,0.5", seed=7)
    arms = [route(router, 42) for _ in range(2000)]
    assert 0.45 < np.mean(arms) < 0.55  # the same user sees both arms
    again = ABRouter(mode="random", split="0.5,0.5", seed=7)
    assert [route(again, 42) for _ in range(2000)] == arms  # a seeded generator, not global state


def test_thompson_sampling_learns_the_better_arm():
    router = ABRouter(mode="thompson", seed=1)
    rng = np.random.default_rng(0)
    ctr = [0.05, 0.15]
    served = []
    for _ in range(3000):
        arm = route(router, 1)
        served.append(arm)
        router.send_feedback([], [], float(rng.random() < ctr[arm]), None, routing=arm)
    assert np.mean(served[-1000:]) > 0.8  # most late traffic goes to the better arm
    posteriors = router.posteriors()
    assert posteriors[1]["alpha"] > posteriors[0]["alpha"]


def test_feedback_without_routing_teaches_nothing():
    router = ABRouter(mode="thompson", seed=1)
    router.send_feedback([], [], 1.0, None, routing=None)
    assert [p["alpha"] for p in router.posteriors()] == [1.0, 1.0]


@pytest.mark.parametrize("features", [{"k": 3}, {"user_id": "7"}, {"user_id": -3}, b"7", np.array([["x"]])])
def test_bad_input_is_a_400_not_a_crash(features):
    with pytest.raises(SeldonMicroserviceException) as caught:
        ABRouter().route(features, [])
    assert caught.value.status_code == 400


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "epsilon"}, "mode must be one of"),
    ({"split": "0.5,0.6"}, "summing to 1"),
    ({"split": "half,half"}, "comma-separated"),
    ({"split": "0.2,0.3,0.5"}, "3 split fractions"),
    ({"seed": -1}, "seed"),
])
def test_bad_graph_parameters_fail_at_start(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ABRouter(**kwargs)


def test_bad_rewards_are_400s():
    with pytest.raises(SeldonMicroserviceException):
        ABRouter(mode="thompson").send_feedback([], [], 0.5, None, routing=0)
    with pytest.raises(SeldonMicroserviceException):
        ABRouter(mode="thompson").send_feedback([], [], 1.0, None, routing=5)
