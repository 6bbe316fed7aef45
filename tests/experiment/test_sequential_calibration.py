"""Calibration by simulation: peeking at the always-valid test is safe, peeking at a z-test is not;
the planned sample size gives the planned power."""

import numpy as np
import pytest

from funflix.experiment.design import PlanConfig, plan, power_two_proportions
from funflix.experiment.frequentist import TwoProportionZTest
from funflix.experiment.sequential import msprt_log_likelihood_ratio
from funflix.experiment.statistics import ProportionStatistic
from funflix.experiment.user_level import ratio_variance

REPLICATIONS, IMPRESSIONS, PEEK_EVERY, BASELINE = 2_000, 10_000, 100, 0.07


def peeking_study(rng, replications, impressions, peek_every, ctr_control, ctr_challenger, mixture_sd=0.03,
                  alpha=0.05):
    """Per replication: did the mSPRT / the naive two-sided z-test ever reject at a peek?

    Impressions are randomised 50/50, one per user; both tests see the same data at every peek.
    The mSPRT uses the analysis's own variance function (delta method at the user level).
    """
    arm = rng.random((replications, impressions)) < 0.5
    click = rng.random((replications, impressions)) < np.where(arm, ctr_challenger, ctr_control)
    looks = np.arange(peek_every, impressions + 1, peek_every) - 1
    n_b = np.cumsum(arm, axis=1)[:, looks].astype(float)
    n_a = (looks + 1) - n_b
    x_b = np.cumsum(arm & click, axis=1)[:, looks].astype(float)
    x_a = np.cumsum(~arm & click, axis=1)[:, looks].astype(float)
    # one impression per user: clicks are 0/1, so sum x^2 = sum x*y = clicks and sum y^2 = n
    var = ratio_variance(n_a, x_a, x_a, n_a, n_a, x_a) + ratio_variance(n_b, x_b, x_b, n_b, n_b, x_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where((n_a > 0) & (n_b > 0), x_b / n_b - x_a / n_a, 0.0)
        pooled = (x_a + x_b) / (n_a + n_b)
        null_se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        z = np.where(null_se > 0, d / null_se, 0.0)
    llr = msprt_log_likelihood_ratio(d, var, mixture_sd)
    sequential = (llr >= np.log(1 / alpha)).any(axis=1)
    naive = (np.abs(z) >= 1.959963984540054).any(axis=1)
    return sequential, naive, llr, looks


def test_aa_peeking_every_100_impressions_keeps_the_sequential_error_rate():
    rng = np.random.default_rng(20261124)
    sequential, naive, _, _ = peeking_study(rng, REPLICATIONS, IMPRESSIONS, PEEK_EVERY, BASELINE, BASELINE)
    fpr_sequential, fpr_naive = sequential.mean(), naive.mean()
    print(f"A/A, {REPLICATIONS} replications, peek every {PEEK_EVERY} of {IMPRESSIONS} impressions: "
          f"mSPRT false-positive rate {fpr_sequential:.3f}, naive z-test {fpr_naive:.3f}")
    assert fpr_sequential <= 0.05
    assert fpr_naive >= 0.25  # the naive test, peeked 100 times, is wrong far more often than 5%


def test_sequential_test_finds_the_planned_effect():
    rng = np.random.default_rng(7)
    sequential, naive, _, _ = peeking_study(rng, 500, 6_000, 100, BASELINE, 0.11)
    assert sequential.mean() >= 0.9


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
