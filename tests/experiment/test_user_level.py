import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from funflix.experiment.constants import NO_DATA, TOO_FEW_UNITS
from funflix.experiment.frequentist import TwoProportionZTest
from funflix.experiment.statistics import RatioStatistic
from funflix.experiment.user_level import DeltaMethodTest, design_effect, ratio_statistics, variance_of_ratio


def _cluster_robust_variance(rows: pd.DataFrame) -> float:
    """CR0 variance of the mean click rate with users as clusters (statsmodels OLS, intercept only)."""
    fit = sm.OLS(rows["clicked"].to_numpy(float), np.ones((len(rows), 1))).fit(
        cov_type="cluster", cov_kwds={"groups": rows["user_id"].to_numpy(), "use_correction": False})
    return float(fit.cov_params()[0, 0])


def test_delta_method_equals_cluster_robust_ols_on_random_data(impressions_factory):
    for seed in range(20):
        df = impressions_factory(n=3000, users=int(200 + 40 * seed), seed=seed)
        stats = ratio_statistics(df)
        for arm, rows in df.groupby("arm"):
            stat = stats[arm]
            # delta method uses n - 1 over users, CR0 uses n: they differ by exactly n / (n - 1)
            expected = _cluster_robust_variance(rows) * stat.n / (stat.n - 1)
            assert variance_of_ratio(stat) == pytest.approx(expected, rel=1e-9)
            assert stat.mean == pytest.approx(rows["clicked"].mean(), rel=1e-12)


def test_one_impression_per_user_reduces_to_the_binomial():
    rng = np.random.default_rng(3)
    x = (rng.random(5000) < 0.07).astype(float)
    stat = RatioStatistic(n=5000, m_sum=x.sum(), m_sum_squares=x.sum(), d_sum=5000.0, d_sum_squares=5000.0,
                          m_d_sum_of_products=x.sum())
    p = x.mean()
    assert variance_of_ratio(stat) == pytest.approx(p * (1 - p) / 5000 * 5000 / 4999, rel=1e-12)
    assert design_effect(stat) == pytest.approx(5000 / 4999)


def test_delta_method_variance_matches_simulated_spread_and_shows_the_design_effect():
    """Users with heterogeneous propensity and ~10 impressions each: the binomial SE is too small,
    the delta-method SE matches the spread of the CTR over 400 simulated experiments."""
    rng = np.random.default_rng(11)
    users, reps = 1000, 400
    impressions = rng.poisson(10, (reps, users)) + 1
    propensity = rng.gamma(1.0, 0.07, (reps, users)).clip(0, 1)
    clicks = rng.binomial(impressions, propensity).astype(float)
    y = impressions.astype(float)
    ctr = clicks.sum(1) / y.sum(1)
    delta_var = np.array([variance_of_ratio(RatioStatistic(users, c.sum(), (c * c).sum(), d.sum(), (d * d).sum(),
                                                           (c * d).sum())) for c, d in zip(clicks, y)])
    binomial_var = ctr * (1 - ctr) / y.sum(1)
    empirical = ctr.var(ddof=1)
    assert delta_var.mean() == pytest.approx(empirical, rel=0.15)
    assert binomial_var.mean() < 0.6 * empirical  # ignoring the user inflates significance
    assert design_effect(RatioStatistic(users, clicks[0].sum(), (clicks[0] ** 2).sum(), y[0].sum(),
                                        (y[0] ** 2).sum(), (clicks[0] * y[0]).sum())) > 1.5


def test_delta_method_test_agrees_with_z_test_without_clustering(impressions_factory):
    df = impressions_factory(n=20_000, users=20_000, heterogeneity=1e9, seed=5)
    df["user_id"] = np.arange(len(df))  # every impression its own user
    stats = ratio_statistics(df)
    user = DeltaMethodTest(stats["control"], stats["challenger"]).compute_result()
    z = TwoProportionZTest(stats["control"].proportion, stats["challenger"].proportion).compute_result()
    assert user.difference == pytest.approx(z.difference)
    assert user.standard_error == pytest.approx(z.standard_error, rel=1e-3)


def test_degenerate_user_level():
    empty = RatioStatistic(0, 0, 0, 0, 0, 0)
    one_user = RatioStatistic(1, 2, 4, 10, 100, 20)
    some = RatioStatistic(50, 5, 5, 100, 220, 9)
    assert DeltaMethodTest(empty, some).compute_result().errors == (NO_DATA,)
    result = DeltaMethodTest(one_user, some).compute_result()
    assert result.errors == (TOO_FEW_UNITS,) and result.p_value == 1.0
    assert variance_of_ratio(empty) == 0.0 and design_effect(empty) == 1.0
