"""The offline A/B and interleaving simulator: exact team-draft enumeration, A/A symmetry, the exact
preference probabilities against sampling, and tests that hold their level under the null."""

from __future__ import annotations

import numpy as np
import pytest

from funflix.serving.team_draft import interleave, puid_generator
from funflix.simulation.click_calibration import arm_lists
from funflix.simulation.interleaving_offline import (PairOutcomes, Visits, ab_significant, coin_sequences,
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


def test_the_exact_probabilities_match_the_serving_team_draft_and_the_click_sampler(calibrated, lists):
    """An independent check: lists merged by the serving code (a fresh puid each) and clicks drawn by the
    click model itself give the exact preference and the exact shared-item breakdown."""
    model, _ = calibrated
    pair = pair_outcomes(model, lists["control"], lists["challenger"])
    users = sorted(lists["control"])
    rng = np.random.default_rng(4)
    wins = losses = shared_clicks = 0
    for n in range(60_000):
        user = users[n % len(users)]
        a, b = lists["control"][user], lists["challenger"][user]
        ranking = interleave(a, b, puid_generator(f"check-{n}"), 10)
        position = model.sample_click(user, ranking.items, rng)
        if position is not None:
            wins += ranking.teams[position] == 1
            losses += ranking.teams[position] == 0
            shared_clicks += ranking.items[position] in set(a) & set(b)
    decided = wins + losses
    assert wins / decided == pytest.approx(pair.preference, abs=4 * (0.25 / decided) ** 0.5)
    assert decided / 60_000 == pytest.approx((pair.win + pair.loss).mean(), abs=0.004)
    breakdown = pair.shared_breakdown()
    assert shared_clicks / decided == pytest.approx(breakdown["clicks_on_shared"], abs=4 * (0.25 / decided) ** 0.5)


def test_heavy_tailed_visits_have_the_asked_mean_and_a_long_tail():
    visits = Visits.heavy_tailed(3.0)
    assert visits.p.sum() == pytest.approx(1.0) and visits.mean == pytest.approx(3.0, rel=1e-3)
    drawn = visits.draw(200_000, np.random.default_rng(5))
    assert drawn.mean() == pytest.approx(3.0, rel=0.03)
    assert np.median(drawn) <= 2 and np.quantile(drawn, 0.99) >= 15  # most come once or twice, a few often
    with pytest.raises(ValueError, match="visits must be >= 1"):
        Visits.equal(0)


@pytest.mark.parametrize("visits", [3, Visits.heavy_tailed(3.0)], ids=["equal", "heavy-tailed"])
def test_both_tests_hold_their_level_when_nothing_differs(visits):
    rng = np.random.default_rng(3)
    ctr = rng.uniform(0.02, 0.15, 500)
    win = ctr / 2
    null = PairOutcomes(ctr, ctr, win, win)
    for test in (ab_significant, interleaving_significant):
        rejected = np.mean(test(null, 2000, visits, 2000, rng) != 0)
        assert rejected < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 2000), test.__name__
