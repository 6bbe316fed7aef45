"""What the simulated lift rests on, offline on the quick arms' real lists: an A/A experiment almost
never ships, a broken challenger is stopped, a worse one is never shipped, and the lift moves with
the click model's hand-set weights."""

import numpy as np
import pytest

from funflix.models.pipeline import popularity_baseline
from funflix.simulation.lift_checks import (click_probabilities, offline_experiment, random_ranking, sensitivity,
                                            verdict_shares)


@pytest.fixture(scope="module")
def probabilities(calibrated, arms, prepared):
    model, _ = calibrated
    return click_probabilities(model, {**arms, "popularity": popularity_baseline(arms["challenger"], prepared),
                                       "random": random_ranking(arms["challenger"])})


def test_aa_experiments_do_not_ship(probabilities, tastes):
    same = {"control": probabilities["control"], "challenger": probabilities["control"]}
    shares = verdict_shares(same, tastes.user_ids, runs=40, sessions=2000, seed=1)
    print(shares)
    assert shares.get("ship", 0.0) <= 0.05 and shares.get("stop: harm", 0.0) <= 0.05


def test_a_broken_challenger_is_stopped_for_harm(probabilities, tastes):
    broken = {"control": probabilities["control"], "challenger": probabilities["random"]}
    assert broken["challenger"].mean() < 0.5 * broken["control"].mean()
    assert verdict_shares(broken, tastes.user_ids, runs=10, sessions=3000, seed=2) == {"stop: harm": 1.0}


def test_popularity_against_the_better_model_is_never_shipped(probabilities, tastes):
    worse = {"control": probabilities["challenger"], "challenger": probabilities["popularity"]}
    assert worse["challenger"].mean() < 0.8 * worse["control"].mean()
    shares = verdict_shares(worse, tastes.user_ids, runs=10, sessions=3000, seed=3)
    assert "ship" not in shares and shares.get("stop: harm", 0.0) > 0


def test_offline_experiment_counts_and_rejects_bad_arms(probabilities, tastes):
    run = offline_experiment({"control": probabilities["control"], "challenger": probabilities["challenger"]},
                             tastes.user_ids, 500, np.random.default_rng(0))
    assert sum(run.impressions.values()) == 500 and set(run.ctr) == {"control", "challenger"}
    with pytest.raises(ValueError, match="exactly two arms"):
        offline_experiment({"control": probabilities["control"]}, tastes.user_ids, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sessions"):
        offline_experiment({"control": probabilities["control"], "b": probabilities["control"]}, tastes.user_ids, 0,
                           np.random.default_rng(0))


def test_predicted_lift_follows_the_genre_weight(tastes, arms):
    rows = sensitivity(tastes, arms, {"genre_weight": (0.0, 2.5, 5.0), "target_ctr": (0.03,)})
    lifts = [row["lift"]["challenger"] for row in rows]
    assert lifts[0] < lifts[1] < lifts[2], lifts
    assert all(row["expected_ctr"]["control"] == pytest.approx(0.07, abs=1e-6) for row in rows[:3])
    assert rows[3]["expected_ctr"]["control"] == pytest.approx(0.03, abs=1e-6)
