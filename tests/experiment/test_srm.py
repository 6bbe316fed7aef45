import numpy as np
import pytest
from scipy.stats import chisquare

from funflix.experiment.constants import NO_DATA
from funflix.experiment.srm import check_srm


def test_matches_scipy_chisquare_on_random_splits():
    rng = np.random.default_rng(4)
    for _ in range(100):
        k = int(rng.integers(2, 5))
        shares = rng.dirichlet(np.ones(k) * 5)
        observed = rng.multinomial(int(rng.integers(100, 1_000_000)), shares)
        result = check_srm([f"a{i}" for i in range(k)], observed.tolist(), shares.tolist())
        stat, p = chisquare(observed, observed.sum() * shares / shares.sum())
        assert (result.statistic, result.p_value) == pytest.approx((stat, p), rel=1e-9, abs=1e-300)


def test_flags_52_48_on_large_n_but_not_a_fair_split():
    mismatch = check_srm(["control", "challenger"], [52_000, 48_000], [0.5, 0.5])
    assert mismatch.mismatch and mismatch.p_value < 1e-30
    assert mismatch.observed_shares == pytest.approx((0.52, 0.48))
    fair = check_srm(["control", "challenger"], [50_090, 49_910], [0.5, 0.5])
    assert not fair.mismatch and fair.p_value > 0.5
    small = check_srm(["control", "challenger"], [52, 48], [0.5, 0.5])
    assert not small.mismatch  # 52/48 on 100 impressions is noise


def test_false_alarm_rate_on_fair_splits_is_about_the_threshold():
    rng = np.random.default_rng(5)
    control = rng.binomial(100_000, 0.5, 20_000)
    flags = [check_srm(["c", "t"], [int(c), 100_000 - int(c)], [1, 1]).mismatch for c in control]
    assert np.mean(flags) < 0.003


def test_shares_are_normalised_and_bad_input_rejected():
    assert check_srm(["a", "b"], [300, 100], [3, 1]).p_value == pytest.approx(1.0)
    assert check_srm(["a", "b"], [0, 0], [1, 1]).errors == (NO_DATA,)
    with pytest.raises(ValueError, match="same length"):
        check_srm(["a", "b"], [1], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        check_srm(["a", "b"], [1, 1], [1, 0])


def test_count_the_randomisation_unit_not_impressions():
    """Sticky routing splits users; users bring very different numbers of impressions. Counting
    impressions then raises false alarms; counting users stays at the nominal rate."""
    rng = np.random.default_rng(6)
    reps, users = 500, 5000
    challenger = rng.random((reps, users)) < 0.5
    impressions = rng.geometric(1 / 20, (reps, users))
    by_user = [check_srm(["c", "t"], [int((~row).sum()), int(row.sum())], [1, 1]).mismatch for row in challenger]
    by_impression = [check_srm(["c", "t"], [int(k[~row].sum()), int(k[row].sum())], [1, 1]).mismatch
                     for row, k in zip(challenger, impressions)]
    assert np.mean(by_user) < 0.01
    assert np.mean(by_impression) > 0.3


def test_analyze_counts_users_under_sticky_routing(impressions_factory):
    from funflix.experiment import AnalysisConfig, analyze

    df = impressions_factory(n=30_000, users=2_000, seed=13)
    df = df[~((df["arm"] == "challenger") & (df["user_id"] % 7 == 1))]  # lose 1 in 7 challenger users
    by_user = analyze(df).srm
    assert by_user.mismatch and by_user.observed == (1000, 857)
    by_impression = analyze(df, AnalysisConfig(randomisation_unit="impression")).srm
    assert by_impression.observed == tuple(int(n) for n in df["arm"].value_counts()[["control", "challenger"]])
