"""The offline A/B and interleaving simulator: exact team-draft enumeration, A/A symmetry, the exact
preference probabilities against sampling, and tests that hold their level under the null."""

from __future__ import annotations

import numpy as np
import pytest

from funflix.serving.team_draft import interleave
from funflix.simulation.click_calibration import arm_lists
from funflix.simulation.interleaving_offline import (PairOutcomes, ab_significant, coin_sequences,
                                                     interleaving_significant, pair_outcomes, preference_probabilities,
                                                     user_preferences)


def test_every_coin_sequence_is_enumerated_once_with_its_probability():
    a, b = list(range(10)), list(range(3, 13))
    merges = coin_sequences(a, b, 10)
    assert sum(w for w, _ in merges) == pytest.approx(1.0)
    assert len({tuple(r.teams) for _, r in merges}) == len(merges) == 32
    rng = np.random.default_rng(0)
    drawn = {tuple(interleave(a, b, rng, 10).teams) for _ in range(500)}
    assert drawn == {tuple(r.teams) for _, r in merges}


@pytest.fixture(scope="module")
def lists(tastes, arms):
    users = tastes.user_ids[:80]
    return {name: arm_lists(rec, users, 10) for name, rec in arms.items()}


def test_the_same_ranker_in_both_teams_wins_and_loses_equally(calibrated, lists):
    model, _ = calibrated
    pair = pair_outcomes(model, lists["control"], lists["control"])
    np.testing.assert_allclose(pair.win, pair.loss, atol=1e-12)
    np.testing.assert_allclose(pair.win + pair.loss, pair.ctr_a, atol=1e-12)  # every click goes to a team


def test_a_better_ranker_is_preferred_and_clicked_more(calibrated, lists):
    model, _ = calibrated
    pair = pair_outcomes(model, lists["control"], lists["challenger"])
    assert (pair.lift > 0) == (pair.preference > 0.5)
    np.testing.assert_array_less(pair.win + pair.loss, 1.0)


def test_exact_preference_probabilities_match_sampled_users():
    rng = np.random.default_rng(2)
    win, loss = rng.uniform(0, 0.2, 1), rng.uniform(0, 0.2, 1)
    pair = PairOutcomes(win, win, win, loss)
    prefer_b, prefer_a = preference_probabilities(pair, 5)
    sampled_b, sampled_a = user_preferences(pair, 400_000, 5, 1, rng)
    assert sampled_b[0] / 4e5 == pytest.approx(prefer_b[0], abs=0.003)
    assert sampled_a[0] / 4e5 == pytest.approx(prefer_a[0], abs=0.003)


def test_both_tests_hold_their_level_when_nothing_differs():
    rng = np.random.default_rng(3)
    ctr = rng.uniform(0.02, 0.15, 500)
    win = ctr / 2
    null = PairOutcomes(ctr, ctr, win, win)
    for test in (ab_significant, interleaving_significant):
        rejected = np.mean(test(null, 2000, 3, 2000, rng) != 0)
        assert rejected < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 2000), test.__name__
