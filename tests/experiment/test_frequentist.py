from dataclasses import asdict

import numpy as np
import pytest
from scipy.stats import chi2_contingency
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from funflix.experiment.constants import BASELINE_ZERO, NO_CLICKS, NO_DATA, ZERO_VARIANCE
from funflix.experiment.frequentist import FrequentistConfig, TwoProportionZTest, chi_square_test
from funflix.experiment.results import ComparisonResult
from funflix.experiment.statistics import ProportionStatistic as P


def _random_pairs(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n1, n2 = (int(x) for x in rng.integers(20, 200_000, 2))
        p = rng.uniform(0.01, 0.5)
        x1 = int(rng.binomial(n1, p))
        x2 = int(rng.binomial(n2, np.clip(p * rng.uniform(0.8, 1.3), 0, 1)))
        if 0 < x1 < n1 and 0 < x2 < n2:
            yield n1, x1, n2, x2


def test_whole_result_pinned():
    result = TwoProportionZTest(P(1000, 70), P(1000, 95)).compute_result()
    rounded = {k: (tuple(round(v, 5) for v in val) if isinstance(val, tuple) and val and isinstance(val[0], float)
                   else round(val, 5) if isinstance(val, float) else val) for k, val in asdict(result).items()}
    assert rounded == asdict(ComparisonResult(
        test="two-proportion z-test", control_mean=0.07, challenger_mean=0.095, difference=0.025,
        difference_ci=(0.00091, 0.04909), relative_lift=0.35714, relative_lift_ci=(0.0094, 0.82469),
        standard_error=0.01229, statistic=2.03187, p_value=0.04217, significant=True))


@pytest.mark.parametrize("alternative, sm_alternative", [("two-sided", "two-sided"), ("greater", "larger"),
                                                         ("less", "smaller")])
def test_z_test_matches_statsmodels_on_random_counts(alternative, sm_alternative):
    config = FrequentistConfig(alpha=0.05, alternative=alternative)
    for n1, x1, n2, x2 in _random_pairs(150, 7):
        result = TwoProportionZTest(P(n1, x1), P(n2, x2), config).compute_result()
        z, p = proportions_ztest([x2, x1], [n2, n1], alternative=sm_alternative)
        assert (result.statistic, result.p_value) == pytest.approx((z, p), rel=1e-7, abs=1e-300)
        assert result.significant == (p < 0.05)


def test_intervals_match_statsmodels_on_random_counts():
    for n1, x1, n2, x2 in _random_pairs(150, 8):
        result = TwoProportionZTest(P(n1, x1), P(n2, x2), FrequentistConfig(alpha=0.1)).compute_result()
        wald = confint_proportions_2indep(x2, n2, x1, n1, method="wald", alpha=0.1)
        ratio = confint_proportions_2indep(x2, n2, x1, n1, compare="ratio", method="log", alpha=0.1)
        np.testing.assert_allclose(result.difference_ci, wald, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(result.relative_lift_ci) + 1.0, ratio, rtol=1e-9)


def test_chi_square_matches_scipy_and_equals_z_squared():
    rng = np.random.default_rng(9)
    for n1, x1, n2, x2 in _random_pairs(100, 9):
        ours = chi_square_test([P(n1, x1), P(n2, x2)])
        stat, p, dof, _ = chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
        assert (ours.statistic, ours.p_value, ours.dof) == pytest.approx((stat, p, dof), rel=1e-8)
        z = TwoProportionZTest(P(n1, x1), P(n2, x2)).compute_result().statistic
        assert ours.statistic == pytest.approx(z * z, rel=1e-9)
    for _ in range(30):  # more than two arms
        n = rng.integers(50, 5000, 4)
        x = rng.binomial(n, 0.1)
        ours = chi_square_test([P(int(a), int(b)) for a, b in zip(n, x)])
        stat, p, dof, _ = chi2_contingency(np.column_stack([x, n - x]), correction=False)
        assert (ours.statistic, ours.p_value, ours.dof) == pytest.approx((stat, p, dof), rel=1e-8)


def test_degenerate_inputs_give_defaults_with_error_codes():
    empty = TwoProportionZTest(P(0, 0), P(100, 5)).compute_result()
    assert empty.errors == (NO_DATA,) and empty.p_value == 1.0 and not empty.significant
    no_clicks = TwoProportionZTest(P(100, 0), P(100, 0)).compute_result()
    assert no_clicks.errors == (ZERO_VARIANCE,) and no_clicks.p_value == 1.0
    all_clicks = TwoProportionZTest(P(10, 10), P(10, 10)).compute_result()
    assert all_clicks.errors == (ZERO_VARIANCE,)
    control_zero = TwoProportionZTest(P(1000, 0), P(1000, 12)).compute_result()
    assert control_zero.errors == (BASELINE_ZERO,) and control_zero.significant
    assert control_zero.relative_lift == 0.0 and control_zero.relative_lift_ci == (0.0, 0.0)
    challenger_zero = TwoProportionZTest(P(1000, 12), P(1000, 0)).compute_result()
    assert challenger_zero.errors == (NO_CLICKS,) and challenger_zero.relative_lift == -1.0
    for result in (empty, no_clicks, all_clicks, control_zero, challenger_zero):
        assert all(np.isfinite(v) for v in _floats(asdict(result)))
    assert chi_square_test([P(10, 1)]).errors == (NO_DATA,)
    assert chi_square_test([P(10, 0), P(10, 0)]).errors == (ZERO_VARIANCE,)


def test_bad_config_and_counts():
    with pytest.raises(ValueError, match="alternative"):
        FrequentistConfig(alternative="bigger")
    with pytest.raises(ValueError, match="alpha"):
        FrequentistConfig(alpha=0)
    with pytest.raises(ValueError, match="exceed"):
        P(5, 6)


def _floats(data):
    for value in data.values():
        if isinstance(value, float):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, float))
