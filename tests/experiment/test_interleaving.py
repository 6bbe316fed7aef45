"""The interleaving analysis: per-user preferences, both share tests cross-checked against scipy and
statsmodels, the always-valid test, the sample-size plan (its power checked exactly), the verdict."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, binomtest
from statsmodels.stats.weightstats import ztest

from funflix.experiment.interleaving import (InterleavingConfig, PreferenceCounts, analyze_interleaving,
                                             impression_outcomes, plan_users, preference_counts, ties_excluded_test,
                                             ties_split_test, user_preferences)
from funflix.experiment.sequential import SequentialConfig, sequential_test

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
ITEMS = [1, 2, 3, 4]
TEAMS = ["control", "challenger", "challenger", "control"]


def frame(rows) -> pd.DataFrame:
    """rows: (user_id, clicked item or None)."""
    return pd.DataFrame({"impression_id": [f"i{n}" for n in range(len(rows))], "user_id": [u for u, _ in rows],
                         "created_at": [T0 + timedelta(seconds=n) for n in range(len(rows))],
                         "items": [ITEMS] * len(rows), "teams": [TEAMS] * len(rows),
                         "clicked_item": pd.array([c for _, c in rows], dtype="Int64"),
                         "status": ["clicked" if c else "unclicked" for _, c in rows]})


def test_each_users_wins_losses_and_ties_make_their_preference():
    data = frame([(1, 2), (1, 3), (1, 1),      # user 1: 2 wins, 1 loss -> challenger
                  (2, 1), (2, None),           # user 2: a loss -> control
                  (3, 2), (3, 4),              # user 3: 1 win, 1 loss -> tie
                  (4, None), (4, None)])       # user 4: never clicked
    users = user_preferences(impression_outcomes(data))
    assert users.loc[1].tolist() == [2, 1, 0, 0] and users.loc[4].tolist() == [0, 0, 0, 2]
    assert preference_counts(users) == PreferenceCounts(prefer_challenger=1, prefer_control=1, ties=1, no_click=1)


def test_unknown_teams_are_refused():
    data = frame([(1, 2)])
    data.at[0, "teams"] = ["control", "someone", "challenger", "control"]
    with pytest.raises(ValueError, match="someone"):
        impression_outcomes(data)


@pytest.mark.parametrize("seed", range(5))
def test_the_share_tests_equal_scipy_and_statsmodels(seed):
    rng = np.random.default_rng(seed)
    b, a, t = (int(x) for x in rng.integers(5, 200, size=3))
    counts = PreferenceCounts(b, a, t, 7)
    excluded = ties_excluded_test(counts)
    assert excluded.p_value == pytest.approx(binomtest(b, a + b, 0.5).pvalue, abs=1e-12)
    split = ties_split_test(counts)
    scores = np.r_[np.ones(b), np.zeros(a), np.full(t, 0.5)]
    assert split.share == pytest.approx(scores.mean())
    assert split.p_value == pytest.approx(ztest(scores, value=0.5)[1], rel=1e-9)


def test_the_plan_gives_90_percent_power_to_the_exact_sign_test():
    n = plan_users(0.56, decisive_fraction=1.0)
    k = np.arange(n + 1)
    reject = 2 * np.minimum(binom.cdf(k, n, 0.5), binom.sf(k - 1, n, 0.5)) <= 0.05
    power = binom.pmf(k, n, 0.56)[reject].sum()
    assert 0.88 < power < 0.92
    assert plan_users(0.56, decisive_fraction=0.25) == pytest.approx(4 * n, abs=4)
    with pytest.raises(ValueError):
        plan_users(0.5)


def test_a_clear_preference_ships_and_its_mirror_stops():
    rng = np.random.default_rng(1)
    rows = [(u, int(rng.choice([2, 3])) if rng.random() < 0.8 else 1) for u in range(400)]
    result = analyze_interleaving(frame(rows))
    assert result.verdict == "ship" and result.sequential.significant
    assert result.ties_excluded.share > 0.7 and result.outcomes["wins"] + result.outcomes["losses"] == 400
    mirrored = frame(rows)
    mirrored["teams"] = [["challenger", "control", "control", "challenger"]] * len(mirrored)
    assert analyze_interleaving(mirrored).verdict == "stop: harm"


def test_no_preference_keeps_running_and_the_fixed_rule_waits_for_its_size():
    rows = [(u, 2 if u % 2 else 1) for u in range(60)]
    result = analyze_interleaving(frame(rows))
    assert result.verdict == "keep running" and result.ties_excluded.share == 0.5
    fixed = analyze_interleaving(frame(rows), InterleavingConfig(decision="fixed", planned_users=100))
    assert fixed.verdict == "keep running"
    done = analyze_interleaving(frame(rows), InterleavingConfig(decision="fixed", planned_users=60))
    assert done.verdict == "inconclusive"


def test_no_data_is_a_default_result_not_an_error():
    result = analyze_interleaving(frame([]))
    assert result.errors == ("NO_DATA",) and result.verdict == "keep running" and result.users.users == 0


def test_the_always_valid_test_keeps_a_and_a_false_positives_under_5_percent_when_watched_at_every_user():
    """A/A: each decisive user prefers either team with probability 1/2; the analysis's mSPRT on the share
    (its looks: difference p - 1/2, variance 1/(4m)) is read after every user. A naive sign test read the
    same way is the control that shows the check can fail."""
    rng = np.random.default_rng(11)
    experiments, users = 400, 2000
    config = InterleavingConfig()
    m = np.arange(1, users + 1)
    rejected_always_valid = rejected_naive = 0
    for _ in range(experiments):
        prefer_challenger = np.cumsum(rng.random(users) < 0.5)
        result, _ = sequential_test(m, prefer_challenger / m - 0.5, 0.25 / m,
                                    SequentialConfig(config.alpha, config.mixture_sd))
        rejected_always_valid += result.significant
        z = np.abs(prefer_challenger / m - 0.5) / np.sqrt(0.25 / m)
        rejected_naive += bool((z[29:] > 1.96).any())
    assert rejected_always_valid / experiments <= 0.05
    assert rejected_naive / experiments > 0.2
