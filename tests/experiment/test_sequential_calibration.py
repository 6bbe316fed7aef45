"""Calibration by simulation: peeking at the always-valid test is safe, peeking at a z-test is not;
the planned sample size gives the planned power."""

import numpy as np
import pytest

from funflix.experiment.calibration import clustered_peeking_study, peeking_study
from funflix.experiment.design import PlanConfig, plan, power_two_proportions
from funflix.experiment.frequentist import TwoProportionZTest
from funflix.experiment.statistics import ProportionStatistic

REPLICATIONS, IMPRESSIONS, PEEK_EVERY, BASELINE = 2_000, 10_000, 100, 0.07


def test_aa_peeking_every_100_impressions_keeps_the_sequential_error_rate():
    rng = np.random.default_rng(20261124)
    study = peeking_study(rng, REPLICATIONS, IMPRESSIONS, PEEK_EVERY, BASELINE, BASELINE)
    fpr_sequential, fpr_naive = study.rejection_rate("sequential"), study.rejection_rate("naive")
    print(f"A/A, {REPLICATIONS} replications, peek every {PEEK_EVERY} of {IMPRESSIONS} impressions: "
          f"mSPRT false-positive rate {fpr_sequential:.3f}, naive z-test {fpr_naive:.3f}")
    assert fpr_sequential <= 0.05
    assert fpr_naive >= 0.25  # the naive test, peeked 100 times, is wrong far more often than 5%
    # read once at the end, the naive z-test is a valid 5% test; peeking is what breaks it
    assert study.final_naive.mean() == pytest.approx(0.05, abs=0.015)
    curve = study.rejection_curve("naive")
    assert np.all(np.diff(curve) >= 0) and curve[-1] == pytest.approx(fpr_naive)


def test_user_level_variance_keeps_the_sequential_test_valid_when_users_repeat():
    """Users with ~10 impressions each and varied tastes (design effect ~1.7): the mSPRT on the
    impression-level variance rejects a true null far too often, the user-level one does not."""
    study = clustered_peeking_study(np.random.default_rng(5), 2000, 2000, 20, BASELINE)
    print(f"A/A with repeat users (design effect {study.mean_design_effect:.2f}): mSPRT false-positive rate "
          f"user level {study.user_level_rate:.3f}, impression level {study.impression_level_rate:.3f}")
    assert study.mean_design_effect > 1.4
    assert study.user_level_rate <= 0.05
    assert study.impression_level_rate > 2 * study.user_level_rate


def test_sequential_test_finds_the_planned_effect():
    rng = np.random.default_rng(7)
    study = peeking_study(rng, 500, 6_000, 100, BASELINE, 0.11)
    assert study.rejection_rate("sequential") >= 0.9


def test_power_at_the_planned_sample_size_matches_theory():
    rng = np.random.default_rng(3)
    config = PlanConfig(baseline=BASELINE, target=0.11, alpha=0.05, power=0.9, sides=2)
    sizes = {s.method: s.control for s in plan(config).sample_sizes}
    for method, n in sizes.items():
        theory = power_two_proportions(n, BASELINE, 0.11, 0.05, sides=2)
        clicks = rng.binomial(n, [BASELINE, 0.11], size=(REPLICATIONS, 2))
        hits = [TwoProportionZTest(ProportionStatistic(n, int(a)), ProportionStatistic(n, int(b))
                                   ).compute_result().significant for a, b in clicks]
        empirical = float(np.mean(hits))
        se = np.sqrt(theory * (1 - theory) / REPLICATIONS)
        assert abs(empirical - theory) < 4 * se + 0.01, (method, empirical, theory)
        if method == "normal":
            assert theory == pytest.approx(0.9, abs=0.002)
        if method == "fleiss_cc":  # the continuity correction buys a margin over the target power
            assert theory > 0.9
