"""The router in the serving environment: stickiness, the split within binomial error, fewest users
moved on a split change, per-request random mode, Thompson sampling, and bad input as 400s."""

from __future__ import annotations

import math

import numpy as np
import pytest

from .serving_python import ServingError

N_USERS = 10_000
ROUTE = """
from funflix.serving.ABRouter import ABRouter, user_point

def route(router, user_id):
    return router.route({"user_id": user_id, "k": 10}, [])
"""


@pytest.fixture()
def router_env(serving):
    """The serving worker with ``ABRouter``, ``user_point`` and ``route(router, user_id)`` defined."""
    serving.run(ROUTE)
    return serving


def routes(router_env, router: str, users, repeat: int = 1) -> list[int]:
    """``route(router, u)`` for each user (``repeat`` times each), ``router`` an ABRouter(...) expression."""
    return router_env.run(f"router = {router}\nresult = [route(router, u) for u in users for _ in range(repeat)]",
                          users=list(users), repeat=repeat)


def test_a_user_always_gets_the_same_arm(router_env):
    arms = routes(router_env, 'ABRouter(mode="sticky", salt="s")', range(200), repeat=20)
    for user_id in range(200):
        assert len(set(arms[20 * user_id:20 * (user_id + 1)])) == 1
    restarted = routes(router_env, 'ABRouter(mode="sticky", salt="s")', [123])
    assert restarted == [arms[20 * 123]]  # also across restarts


@pytest.mark.parametrize("split", [(0.5, 0.5), (0.8, 0.2), (0.3, 0.7)])
def test_the_split_holds_within_binomial_error_over_10000_users(router_env, split):
    arms = routes(router_env, f'ABRouter(mode="sticky", split="{",".join(map(str, split))}", salt="experiment-7")',
                  range(N_USERS))
    share = np.mean([arm == 0 for arm in arms])
    sigma = math.sqrt(split[0] * split[1] / N_USERS)
    assert abs(share - split[0]) < 4 * sigma


def test_changing_the_split_moves_the_fewest_users(router_env):
    before = routes(router_env, 'ABRouter(mode="sticky", split="0.5,0.5", salt="s")', range(N_USERS))
    after = routes(router_env, 'ABRouter(mode="sticky", split="0.6,0.4", salt="s")', range(N_USERS))
    moved = [(old, new) for old, new in zip(before, after) if old != new]
    assert all(old == 1 and new == 0 for old, new in moved)  # only into the arm that grew
    assert abs(len(moved) / N_USERS - 0.1) < 4 * math.sqrt(0.1 * 0.9 / N_USERS)  # 10%, the minimum


def test_a_new_salt_reshuffles_users(router_env):
    a = routes(router_env, 'ABRouter(salt="one")', range(2000))
    b = routes(router_env, 'ABRouter(salt="two")', range(2000))
    same = np.mean([x == y for x, y in zip(a, b)])
    assert 0.4 < same < 0.6
    assert 0.0 <= router_env.run('result = user_point("x", 1)') < 1.0


def test_random_mode_draws_per_request_like_random_abtest(router_env):
    arms = routes(router_env, 'ABRouter(mode="random", split="0.5,0.5", seed=7)', [42], repeat=2000)
    assert 0.45 < np.mean(arms) < 0.55  # the same user sees both arms
    again = routes(router_env, 'ABRouter(mode="random", split="0.5,0.5", seed=7)', [42], repeat=2000)
    assert again == arms  # a seeded generator, not global state


def test_thompson_sampling_learns_the_better_arm(router_env):
    served, posteriors = router_env.run("""
import numpy as np
router = ABRouter(mode="thompson", seed=1)
rng = np.random.default_rng(0)
ctr = [0.05, 0.15]
served = []
for _ in range(3000):
    arm = route(router, 1)
    served.append(arm)
    router.send_feedback([], [], float(rng.random() < ctr[arm]), None, routing=arm)
result = served, router.posteriors()
""")
    assert np.mean(served[-1000:]) > 0.8  # most late traffic goes to the better arm
    assert posteriors[1]["alpha"] > posteriors[0]["alpha"]


def test_feedback_without_routing_teaches_nothing(router_env):
    posteriors = router_env.run("""
router = ABRouter(mode="thompson", seed=1)
router.send_feedback([], [], 1.0, None, routing=None)
result = router.posteriors()
""")
    assert [p["alpha"] for p in posteriors] == [1.0, 1.0]


@pytest.mark.parametrize("features", ['{"k": 3}', '{"user_id": "7"}', '{"user_id": -3}', 'b"7"',
                                      'np.array([["x"]])'])
def test_bad_input_is_a_400_not_a_crash(router_env, features):
    with pytest.raises(ServingError) as caught:
        router_env.run(f"import numpy as np\nABRouter().route({features}, [])")
    assert caught.value.type == "SeldonMicroserviceException"
    assert caught.value.status_code == 400


@pytest.mark.parametrize("kwargs, message", [
    ('mode="epsilon"', "mode must be one of"),
    ('split="0.5,0.6"', "summing to 1"),
    ('split="half,half"', "comma-separated"),
    ('split="0.2,0.3,0.5"', "3 split fractions"),
    ("seed=-1", "seed"),
])
def test_bad_graph_parameters_fail_at_start(router_env, kwargs, message):
    with pytest.raises(ServingError, match=message) as caught:
        router_env.run(f"ABRouter({kwargs})")
    assert caught.value.type == "ValueError"


@pytest.mark.parametrize("feedback", ["0.5, None, routing=0", "1.0, None, routing=5"])
def test_bad_rewards_are_400s(router_env, feedback):
    with pytest.raises(ServingError) as caught:
        router_env.run(f'ABRouter(mode="thompson").send_feedback([], [], {feedback})')
    assert caught.value.type == "SeldonMicroserviceException"
