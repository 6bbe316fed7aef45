"""Impression-level frequentist tests: two-proportion z-test and chi-square."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from scipy.stats import chi2

from .constants import BASELINE_ZERO, NO_CLICKS, NO_DATA, ZERO_VARIANCE
from .effects import Alternative, normal_interval, normal_p_value, relative_lift_interval
from .results import ComparisonResult
from .statistics import ProportionStatistic


@dataclass(frozen=True)
class FrequentistConfig:
    """Level and direction of the fixed-horizon tests."""

    alpha: float = 0.05
    alternative: Literal["two-sided", "greater", "less"] = "two-sided"

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.alternative not in ("two-sided", "greater", "less"):
            raise ValueError(f"alternative must be two-sided, greater or less, got {self.alternative!r}")


class TwoProportionZTest:
    """Pooled two-proportion z-test; unpooled Wald interval for the difference, delta-method
    interval for the relative lift on the log scale (matches statsmodels ``proportions_ztest`` and
    ``confint_proportions_2indep`` with ``method="wald"`` and ``compare="ratio", method="log"``)."""

    name = "two-proportion z-test"

    def __init__(self, control: ProportionStatistic, challenger: ProportionStatistic,
                 config: FrequentistConfig | None = None) -> None:
        self.control, self.challenger = control, challenger
        self.config = config or FrequentistConfig()

    def compute_result(self) -> ComparisonResult:
        a, b, cfg = self.control, self.challenger, self.config
        if a.n == 0 or b.n == 0:
            return ComparisonResult(test=self.name, control_mean=a.mean, challenger_mean=b.mean, errors=(NO_DATA,))
        pooled = (a.clicks + b.clicks) / (a.n + b.n)
        null_se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / a.n + 1.0 / b.n))
        return z_comparison(self.name, a.mean, a.variance / a.n, b.mean, b.variance / b.n, null_se, cfg)


def z_comparison(test: str, control_mean: float, control_var: float, challenger_mean: float, challenger_var: float,
                 null_se: float, cfg: FrequentistConfig) -> ComparisonResult:
    """Difference, lift and z-test of two means given their sampling variances.

    ``null_se`` is the standard error under the null hypothesis (pooled for proportions, the
    unpooled one where no pooled form exists); intervals use the unpooled standard error.
    """
    se = math.sqrt(control_var + challenger_var)
    difference = challenger_mean - control_mean
    if null_se == 0.0:
        return ComparisonResult(test=test, control_mean=control_mean, challenger_mean=challenger_mean,
                                difference=difference, difference_ci=(difference, difference),
                                errors=(ZERO_VARIANCE,))
    z = difference / null_se
    p_value = normal_p_value(z, cfg.alternative)
    lift, lift_ci, errors = _relative_lift(control_mean, control_var, challenger_mean, challenger_var,
                                           cfg.alpha, cfg.alternative)
    return ComparisonResult(
        test=test, control_mean=control_mean, challenger_mean=challenger_mean, difference=difference,
        difference_ci=normal_interval(difference, se, cfg.alpha, cfg.alternative),
        relative_lift=lift, relative_lift_ci=lift_ci, standard_error=se, statistic=z,
        p_value=p_value, significant=p_value < cfg.alpha, errors=errors)


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson chi-square test of independence on the 2 x k arm-by-click table."""

    statistic: float = 0.0
    dof: int = 0
    p_value: float = 1.0
    significant: bool = False
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def chi_square_test(arms: list[ProportionStatistic], alpha: float = 0.05) -> ChiSquareResult:
    """Chi-square (no continuity correction) that all arms share one CTR; for two arms it is
    the square of the pooled z statistic (scipy ``chi2_contingency(correction=False)``)."""
    arms = [arm for arm in arms if arm.n > 0]
    if len(arms) < 2:
        return ChiSquareResult(errors=(NO_DATA,))
    total_n = sum(arm.n for arm in arms)
    total_clicks = sum(arm.clicks for arm in arms)
    if total_clicks in (0, total_n):
        return ChiSquareResult(dof=len(arms) - 1, errors=(ZERO_VARIANCE,))
    p = total_clicks / total_n
    statistic = 0.0
    for arm in arms:
        for observed, expected in ((arm.clicks, arm.n * p), (arm.n - arm.clicks, arm.n * (1.0 - p))):
            statistic += (observed - expected) ** 2 / expected
    dof = len(arms) - 1
    p_value = float(chi2.sf(statistic, dof))
    return ChiSquareResult(statistic=statistic, dof=dof, p_value=p_value, significant=p_value < alpha)


def _relative_lift(control_mean: float, control_var: float, challenger_mean: float, challenger_var: float,
                   alpha: float, alternative: Alternative) -> tuple[float, tuple[float, float], tuple[str, ...]]:
    if control_mean == 0.0:
        return 0.0, (0.0, 0.0), (BASELINE_ZERO,)
    lift = challenger_mean / control_mean - 1.0
    if challenger_mean == 0.0:
        return lift, (lift, lift), (NO_CLICKS,)
    return lift, relative_lift_interval(control_mean, control_var, challenger_mean, challenger_var,
                                        alpha, alternative), ()
