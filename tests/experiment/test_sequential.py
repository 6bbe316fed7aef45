import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from funflix.experiment.constants import NO_DATA, ZERO_VARIANCE
from funflix.experiment.sequential import (SequentialConfig, always_valid_p_values,
                                           confidence_sequence_half_width, msprt_log_likelihood_ratio,
                                           sequential_test)


def test_mixture_likelihood_ratio_matches_numerical_integration():
    rng = np.random.default_rng(1)
    for _ in range(50):
        v = 10 ** rng.uniform(-7, -3)
        d = rng.normal(0, 3 * np.sqrt(v))
        tau = 10 ** rng.uniform(-3, -1)
        sd = np.sqrt(v)
        centre = d * tau ** 2 / (v + tau ** 2)            # the integrand's mode and width
        width = np.sqrt(v * tau ** 2 / (v + tau ** 2))
        numerator, _ = integrate.quad(lambda t: norm.pdf(d, t, sd) * norm.pdf(t, 0, tau),
                                      centre - 15 * width, centre + 15 * width, limit=200, epsabs=0)
        expected = np.log(numerator) - norm.logpdf(d, 0, sd)
        assert msprt_log_likelihood_ratio(d, v, tau) == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_confidence_sequence_is_the_inverted_test():
    v, tau, alpha = np.array([1e-6, 4e-5, 3e-4]), 0.03, 0.05
    half = confidence_sequence_half_width(v, tau, alpha)
    # at the interval's edge the likelihood ratio of "theta = edge" is exactly 1/alpha
    np.testing.assert_allclose(msprt_log_likelihood_ratio(half, v, tau), np.log(1 / alpha), rtol=1e-12)


def test_path_pinned_and_p_values_only_fall():
    looks = [200, 400, 600, 800]
    result, path = sequential_test(looks, [0.03, 0.02, 0.025, 0.024], [6e-4, 3e-4, 2e-4, 1.5e-4],
                                   SequentialConfig(alpha=0.05, mixture_sd=0.03))
    assert np.all(np.diff(path.p_value) <= 0)
    assert np.all(np.diff(path.ci_lower) >= 0) and np.all(np.diff(path.ci_upper) <= 0)
    assert round(result.p_value, 5) == 0.51030
    assert (round(result.ci[0], 5), round(result.ci[1], 5)) == (-0.01327, 0.06127)
    assert not result.significant and result.decided_at is None
    strong, _ = sequential_test(looks, [0.05, 0.05, 0.05, 0.05], [1e-4, 5e-5, 3e-5, 2e-5])
    assert strong.significant and strong.decided_at == 200 and strong.ci[0] > 0


def test_degenerate_paths():
    empty, path = sequential_test([], [], [])
    assert empty.errors == (NO_DATA,) and empty.p_value == 1.0 and path.looks == ()
    flat, _ = sequential_test([10, 20], [0.0, 0.0], [0.0, 0.0])
    assert flat.errors == (ZERO_VARIANCE,) and flat.p_value == 1.0 and flat.ci == (-1.0, 1.0)
    assert np.all(always_valid_p_values([[-1.0, 5.0, 0.0]]) == [[1.0, np.exp(-5.0), np.exp(-5.0)]])
    with pytest.raises(ValueError, match="mixture_sd"):
        SequentialConfig(mixture_sd=0)
