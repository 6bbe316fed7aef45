import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from funflix.experiment import arm_summary, summarize_counts, wilson_interval


def test_wilson_pinned():
    lower, upper = wilson_interval(7, 100)
    assert (round(lower, 5), round(upper, 5)) == (0.03432, 0.13750)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_wilson_matches_statsmodels_on_random_counts(alpha):
    rng = np.random.default_rng(1)
    for n in rng.integers(1, 100_000, size=300):
        clicks = int(rng.integers(0, n + 1))
        expected = proportion_confint(clicks, int(n), alpha=alpha, method="wilson")
        np.testing.assert_allclose(wilson_interval(clicks, int(n), alpha), expected, rtol=1e-9, atol=1e-12)


def test_wilson_degenerate_and_bad_input():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_summaries_from_counts():
    control, challenger, empty = summarize_counts({"control": (1000, 70), "challenger": (1000, 110), "x": (0, 0)})
    assert challenger.ctr == pytest.approx(0.11) and control.share == pytest.approx(0.5)
    assert empty.ctr == 0.0 and (empty.ci_lower, empty.ci_upper) == (0.0, 1.0) and empty.share == 0.0
    assert arm_summary("a", 0, 0).to_dict()["share"] == 0.0
    with pytest.raises(ValueError):
        arm_summary("a", 10, 11)
