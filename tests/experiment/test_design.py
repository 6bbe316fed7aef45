from dataclasses import asdict

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (power_proportions_2indep, proportion_effectsize,
                                          samplesize_proportions_2indep_onetail)

from funflix.experiment.design import (PlanConfig, SampleSize, arcsine_sample_size, duration_days,
                                       fleiss_sample_size, plan, power_two_proportions)


@pytest.mark.parametrize("sides, expected", [(1, 925), (2, 1124)])
def test_original_funflix_plan_anchors(sides, expected):
    result = plan(PlanConfig(baseline=0.07, target=0.11, alpha=0.05, power=0.9, sides=sides))
    assert result.primary.method == "fleiss_cc"
    assert result.primary.control == result.primary.challenger == expected


def test_whole_plan_result_pinned():
    result = plan(PlanConfig(baseline=0.07, target=0.11, sides=2, traffic_per_day=1000))
    data = asdict(result)
    sizes = data.pop("sample_sizes")
    assert data == pytest.approx({
        "baseline": 0.07, "target": 0.11, "absolute_effect": 0.04, "relative_effect": 0.5714285714285714,
        "alpha": 0.05, "power": 0.9, "sides": 2, "control_share": 0.5, "design_effect": 1.0,
        "traffic_per_day": 1000.0})
    assert [asdict(SampleSize(**s)) for s in sizes] == [
        asdict(SampleSize("fleiss_cc", 1124, 1124, 2248, 2.248)),
        asdict(SampleSize("normal", 1074, 1074, 2148, 2.148)),
        asdict(SampleSize("arcsine", 1063, 1063, 2126, 2.126)),
    ]


def test_unrounded_sizes_pinned_to_5_decimals():
    assert round(fleiss_sample_size(0.07, 0.11, 0.05, 0.9, 1), 5) == 924.17113
    assert round(fleiss_sample_size(0.07, 0.11, 0.05, 0.9, 2), 5) == 1123.06230
    assert round(fleiss_sample_size(0.07, 0.11, 0.05, 0.9, 1, continuity=False), 5) == 874.84741
    assert round(arcsine_sample_size(0.07, 0.11, 0.05, 0.9, 1), 5) == 866.37209


def _random_designs(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        p1 = rng.uniform(0.01, 0.6)
        p2 = float(np.clip(p1 * rng.uniform(0.5, 1.8), 0.005, 0.95))
        if abs(p2 - p1) < 0.002:
            continue
        yield (p1, p2, float(rng.choice([0.01, 0.05, 0.1])), float(rng.uniform(0.6, 0.95)),
               int(rng.choice([1, 2])), float(rng.choice([1.0, 0.5, 2.0, 3.0])))


def test_normal_approximation_matches_statsmodels_on_random_designs():
    for p1, p2, alpha, power, sides, ratio in _random_designs(200, 1):
        ours = fleiss_sample_size(p1, p2, alpha, power, sides, ratio, continuity=False)
        # statsmodels: prop2 is the reference with nobs2 = ratio * nobs1, prop1 = prop2 + diff
        theirs = samplesize_proportions_2indep_onetail(diff=p1 - p2, prop2=p2, power=power, ratio=ratio,
                                                       alpha=alpha, alternative="two-sided" if sides == 2 else "larger")
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_arcsine_matches_statsmodels_normal_ind_power():
    for p1, p2, alpha, power, sides, ratio in _random_designs(60, 2):
        ours = arcsine_sample_size(p1, p2, alpha, power, sides, ratio)
        h = abs(proportion_effectsize(p2, p1))
        theirs = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=1.0 / ratio,
                                              alternative="two-sided" if sides == 2 else "larger")
        # statsmodels solves for the challenger arm (nobs1) and counts the far tail when two-sided
        assert ours * ratio == pytest.approx(theirs, rel=1e-6 if sides == 1 else 1e-3)


def test_power_matches_statsmodels_and_inverts_the_sample_size():
    for p1, p2, alpha, power, sides, ratio in _random_designs(200, 3):
        n = fleiss_sample_size(p1, p2, alpha, power, sides, ratio, continuity=False)
        ours = power_two_proportions(n, p1, p2, alpha, sides, ratio)
        theirs = power_proportions_2indep(diff=p1 - p2, prop2=p2, nobs1=n, ratio=ratio, alpha=alpha,
                                          alternative="two-sided" if sides == 2 else
                                          "smaller" if p1 < p2 else "larger",
                                          return_results=False)
        assert ours == pytest.approx(theirs, rel=1e-9)
        assert ours == pytest.approx(power, abs=2e-3 if sides == 2 else 1e-9)


def test_mde_absolute_and_relative_and_unequal_split():
    absolute = plan(PlanConfig(baseline=0.07, mde=0.04))
    relative = plan(PlanConfig(baseline=0.07, mde=4 / 7, relative_mde=True))
    assert absolute.primary == relative.primary and absolute.target == pytest.approx(0.11)
    skewed = plan(PlanConfig(baseline=0.07, target=0.11, control_share=0.8)).primary
    assert skewed.challenger == pytest.approx(skewed.control / 4, abs=1)
    assert skewed.total > 1850  # an unbalanced split needs more traffic in all


def test_duration_and_design_effect():
    result = plan(PlanConfig(baseline=0.07, target=0.11, traffic_per_day=370, design_effect=1.5))
    assert result.primary.control == 1387  # ceil(924.29 * 1.5)
    assert result.primary.days == pytest.approx(1387 / 185)
    assert duration_days(900, 100, 1000, control_share=0.9) == pytest.approx(1.0)
    assert duration_days(10, 10, None) is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(baseline=0.0, target=0.1), "baseline"),
    (dict(baseline=0.07), "exactly one"),
    (dict(baseline=0.07, target=0.11, mde=0.04), "exactly one"),
    (dict(baseline=0.07, target=0.07), "no effect"),
    (dict(baseline=0.07, mde=2.0), "target rate"),
    (dict(baseline=0.07, target=0.11, alpha=1.5), "alpha"),
    (dict(baseline=0.07, target=0.11, power=0.0), "power"),
    (dict(baseline=0.07, target=0.11, sides=3), "sides"),
    (dict(baseline=0.07, target=0.11, control_share=1.0), "control share"),
    (dict(baseline=0.07, target=0.11, design_effect=0.5), "design effect"),
    (dict(baseline=0.07, target=0.11, traffic_per_day=0), "traffic"),
])
def test_bad_plans_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PlanConfig(**kwargs)


def test_fleiss_cc_gives_the_corrected_test_its_power_for_any_split():
    """Independent check of the continuity-corrected size, unequal splits included: at that n, the
    z-test with Yates-style correction (1/(2 n1) + 1/(2 n2)) has exactly the asked power."""
    for p1, p2, alpha, power, sides, ratio in _random_designs(300, 4):
        n1 = fleiss_sample_size(p1, p2, alpha, power, sides, ratio, continuity=True)
        n2 = ratio * n1
        pooled = (n1 * p1 + n2 * p2) / (n1 + n2)
        null_se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        alt_se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        correction = (1 / n1 + 1 / n2) / 2
        achieved = norm.cdf((abs(p2 - p1) - correction - norm.ppf(1 - alpha / sides) * null_se) / alt_se)
        assert achieved == pytest.approx(power, abs=1e-9)
