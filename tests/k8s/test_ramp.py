"""The ramp's analysis population: the users whose arm never changed, checked against the real router."""

from __future__ import annotations

import json
import subprocess

import pytest

from funflix.environments import serving_python
from funflix.k8s.ramp import child_for_point, stable_child, stable_shares, user_point

RAMP = [[0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]


def test_the_points_and_arms_are_the_routers_own():
    """The same users land in the same arms as ABRouter puts them, at every step of a ramp."""
    code = ("import json, sys\nfrom funflix.serving.ABRouter import ABRouter, user_point\n"
            "steps = json.loads(sys.argv[1])\n"
            "routers = [ABRouter(mode='sticky', split=','.join(map(str, s)), salt='ramp-1') for s in steps]\n"
            "print(json.dumps({'points': [user_point('ramp-1', u) for u in range(2000)],\n"
            "  'arms': [[r.route({'user_id': u, 'k': 5}, []) for u in range(2000)] for r in routers]}))")
    done = subprocess.run([str(serving_python()), "-c", code, json.dumps(RAMP)], capture_output=True, text=True,
                          timeout=120, check=True)
    routed = json.loads(done.stdout.strip().splitlines()[-1])
    assert [user_point("ramp-1", u) for u in range(2000)] == routed["points"]
    for split, arms in zip(RAMP, routed["arms"]):
        assert [child_for_point(split, user_point("ramp-1", u)) for u in range(2000)] == arms


def test_only_users_between_the_boundaries_move_and_they_are_left_out():
    points = [user_point("ramp-1", u) for u in range(20_000)]
    stable = [stable_child(RAMP[:2], p) for p in points]
    moved = [p for p, child in zip(points, stable) if child is None]
    assert all(0.25 <= p < 0.5 for p in moved)
    assert len(moved) / len(points) == pytest.approx(0.25, abs=0.01)
    assert all(child == (0 if p < 0.25 else 1) for p, child in zip(points, stable) if child is not None)


@pytest.mark.parametrize("history, shares", [
    ([[0.5, 0.5]], [0.5, 0.5]),
    ([[0.5, 0.5], [0.25, 0.75]], [0.25, 0.5]),
    (RAMP, [0.0, 0.5]),
    ([[0.5, 0.5], [1.0, 0.0]], [0.5, 0.0]),
    ([[0.4, 0.3, 0.3], [0.2, 0.5, 0.3]], [0.2, 0.3, 0.3]),
])
def test_stable_shares_are_the_measure_of_points_that_kept_their_arm(history, shares):
    assert stable_shares(history) == pytest.approx(shares)
