"""The click model: tastes, position bias, liking, the no-click option, calibration, arm-blindness
(swap the models, the CTRs swap) and seeded reproducibility."""

from __future__ import annotations

import math
import numpy as np
import pytest

from funflix.simulation.click_calibration import arm_lists
from funflix.simulation.click_model import ClickModel, click_distribution
from funflix.simulation.runner import Visitor, run_sessions
from funflix.simulation.sessions import Row, SessionOutcome, decide_click, plan_session


def a_user_with_future(tastes, n: int = 12) -> int:
    return next(int(u) for u in tastes.user_ids if len(tastes.future[int(u)]) >= n)


def unliked_items(tastes, user_id: int, n: int) -> list[int]:
    """Movies outside the user's future whose genres the user likes least."""
    affinity = tastes.genre_affinity[int(np.searchsorted(tastes.user_ids, user_id))]
    candidates = [m for m, cols in tastes.movie_genres.items() if m not in tastes.future[user_id] and len(cols)]
    return sorted(candidates, key=lambda m: (affinity[tastes.movie_genres[m]].mean(), m))[:n]


def test_tastes_future_and_genre_affinity(tastes, prepared):
    test = prepared.split.test
    assert tastes.n_users == test["userId"].nunique()
    user = a_user_with_future(tastes)
    held_out = test[test["userId"] == user]
    future, genre = tastes.liking(user, held_out["movieId"].tolist())
    np.testing.assert_allclose(future, held_out["rating"].to_numpy() / 5)
    assert ((genre >= 0) & (genre <= 1)).all()
    assert np.allclose(tastes.genre_affinity.max(axis=1), 1.0)
    other = unliked_items(tastes, user, 3)
    assert (tastes.liking(user, other)[0] == 0).all()
    with pytest.raises(ValueError, match="not a simulated user"):
        tastes.liking(10**9, [1])


def test_position_bias_is_monotone(calibrated, tastes):
    model, _ = calibrated
    user = a_user_with_future(tastes)
    same = [unliked_items(tastes, user, 1)[0]] * 10  # ten equally liked items: only position differs
    probabilities = model.position_probabilities(user, same)
    assert (np.diff(probabilities) < 0).all()
    liked = next(iter(tastes.future[user]))
    filler = unliked_items(tastes, user, 9)
    by_position = [model.position_probabilities(user, filler[:p] + [liked] + filler[p:])[p] for p in range(10)]
    assert (np.diff(by_position) < 0).all(), "the same liked item is clicked less the lower it is shown"


def test_click_probability_grows_with_liking(calibrated, tastes):
    model, _ = calibrated
    user = a_user_with_future(tastes)
    filler = unliked_items(tastes, user, 10)
    liked = sorted(tastes.future[user], key=tastes.future[user].get)[-3:]
    base = model.expected_ctr(user, filler)
    more = [model.expected_ctr(user, liked[:n] + filler[n:]) for n in range(1, 4)]
    assert base < more[0] < more[1] < more[2]
    z = np.linspace(-3, 5, 9)[None, :].T  # one-item lists of growing liking
    assert (np.diff(click_distribution(z, model.intercept, model.patience)[:, 0]) > 0).all()


def test_no_click_option_even_for_a_perfect_list(calibrated, tastes):
    model, _ = calibrated
    user = a_user_with_future(tastes)
    favourites = sorted(tastes.future[user], key=tastes.future[user].get)[-10:]
    p_click = model.expected_ctr(user, favourites)
    assert 0 < p_click < 1
    rng = np.random.default_rng(3)
    draws = [model.sample_click(user, favourites, rng) for _ in range(4000)]
    no_click = sum(d is None for d in draws) / len(draws)
    assert abs(no_click - (1 - p_click)) < 4 * math.sqrt(p_click * (1 - p_click) / len(draws))
    clicked = [d for d in draws if d is not None]
    expected = model.position_probabilities(user, favourites) * len(draws)
    observed = np.bincount(clicked, minlength=10)
    assert observed[0] > observed[-1] and abs(observed[0] - expected[0]) < 4 * math.sqrt(expected[0])
    assert model.sample_click(user, [], rng) is None and model.expected_ctr(user, []) == 0.0


def test_calibration_hits_the_target_on_the_control_lists(calibrated, tastes, arms):
    model, calibration = calibrated
    control_lists = arm_lists(arms["control"], tastes.user_ids, 10)
    assert model.mean_ctr(control_lists) == pytest.approx(0.07, abs=1e-6)
    assert calibration.expected_ctr["control"] == pytest.approx(0.07, abs=1e-6)
    assert calibration.expected_ctr["challenger"] == pytest.approx(model.mean_ctr(arm_lists(arms["challenger"], tastes.user_ids, 10)))
    assert calibration.expected_lift["challenger"] == pytest.approx(calibration.expected_ctr["challenger"] / 0.07 - 1)
    for target in (0.02, 0.15):
        assert model.calibrated(control_lists, target).mean_ctr(control_lists) == pytest.approx(target, abs=1e-6)
    # Monte Carlo over the same lists agrees with the exact expectation.
    rng = np.random.default_rng(11)
    users = rng.choice(tastes.user_ids, 20000)
    clicks = sum(model.sample_click(int(u), control_lists[int(u)], rng) is not None for u in users)
    assert abs(clicks / len(users) - 0.07) < 4 * math.sqrt(0.07 * 0.93 / len(users))


def test_calibration_rejects_impossible_targets(calibrated, tastes, arms):
    model, _ = calibrated
    lists = arm_lists(arms["control"], tastes.user_ids[:50], 10)
    with pytest.raises(ValueError, match="target CTR"):
        model.calibrated(lists, 1.5)
    with pytest.raises(ValueError, match="out of reach"):
        model.calibrated({int(tastes.user_ids[0]): []}, 0.07)  # nothing shown: no intercept earns a click
    with pytest.raises(ValueError, match="patience"):
        ClickModel(model.tastes, patience=0)


class ArmBlindVisitor(Visitor):
    """Visits without the website: a 50/50 per-visit assignment serves that arm's list; the click
    model decides from the user and items only (what the real visitors do with the page)."""

    def __init__(self, model, recommenders: dict):
        self.model, self.names = model, sorted(recommenders)
        self.lists = {arm: arm_lists(rec, model.tastes.user_ids, 10) for arm, rec in recommenders.items()}

    def visit(self, plan) -> SessionOutcome:
        arm = self.names[int(plan.rng.integers(len(self.names)))]
        items = self.lists[arm][plan.user_id]
        row = Row(impression_id=str(plan.index), arm=arm, items=items, hrefs=[])
        clicked, expected = decide_click(self.model, plan, row)
        return SessionOutcome(plan.index, plan.user_id, row=row, clicked=clicked, expected_ctr=expected)


def arm_ctrs(model, recommenders, sessions=12000, seed=5, workers=1) -> dict:
    visitor = ArmBlindVisitor(model, recommenders)
    result = run_sessions(lambda: visitor, sessions, model.tastes.user_ids, seed=seed, workers=workers, progress=False)
    return result.summary.to_dict()["arms"]


def test_swapping_the_models_swaps_the_ctrs(calibrated, arms):
    model, calibration = calibrated
    assert calibration.expected_lift["challenger"] > 0.1, "the fixture needs arms the click model tells apart"
    straight = arm_ctrs(model, arms)
    swapped = arm_ctrs(model, {"control": arms["challenger"], "challenger": arms["control"]})
    for arm, other in (("control", "challenger"), ("challenger", "control")):
        n = swapped[arm]["impressions"]
        tolerance = 4 * math.sqrt(2 * 0.1 * 0.9 / n)
        assert swapped[arm]["ctr"] == pytest.approx(straight[other]["ctr"], abs=tolerance)
    assert straight["challenger"]["ctr"] > straight["control"]["ctr"]
    assert swapped["control"]["ctr"] > swapped["challenger"]["ctr"]
    assert abs(straight["control"]["ctr"] - 0.07) < 4 * math.sqrt(0.07 * 0.93 / straight["control"]["impressions"])


def test_seeded_runs_reproduce_whatever_the_workers(calibrated, arms):
    model, _ = calibrated

    def outcomes(seed, workers):
        seen = {}

        class Recording(ArmBlindVisitor):
            def visit(self, plan):
                outcome = super().visit(plan)
                seen[plan.index] = (outcome.user_id, outcome.row.arm, outcome.clicked)
                return outcome

        visitor = Recording(model, arms)
        run_sessions(lambda: visitor, 300, model.tastes.user_ids, seed=seed, workers=workers, progress=False)
        return seen

    first = outcomes(7, 1)
    assert outcomes(7, 4) == first
    assert outcomes(8, 1) != first
    assert len(first) == 300 and any(c is not None for _, _, c in first.values())
    assert plan_session(7, 5, model.tastes.user_ids).user_id == first[5][0]
