"""Small pure formulas: p-values, intervals for a difference and for a relative lift."""

from __future__ import annotations

import math
from typing import Literal

from scipy.stats import norm

Alternative = Literal["two-sided", "greater", "less"]


def normal_p_value(z: float, alternative: Alternative = "two-sided") -> float:
    """p-value of a standard-normal statistic (``greater``: the challenger is better)."""
    if alternative == "two-sided":
        return float(2.0 * norm.sf(abs(z)))
    if alternative == "greater":
        return float(norm.sf(z))
    if alternative == "less":
        return float(norm.cdf(z))
    raise ValueError(f"alternative must be two-sided, greater or less, got {alternative!r}")


def normal_interval(estimate: float, standard_error: float, alpha: float,
                    alternative: Alternative = "two-sided") -> tuple[float, float]:
    """Wald interval; one-sided alternatives leave the other end unbounded (as +-inf)."""
    if alternative == "two-sided":
        half = float(norm.ppf(1.0 - alpha / 2.0)) * standard_error
        return (estimate - half, estimate + half)
    z = float(norm.ppf(1.0 - alpha))
    if alternative == "greater":
        return (estimate - z * standard_error, math.inf)
    return (-math.inf, estimate + z * standard_error)


def relative_lift_interval(control_mean: float, control_var: float, challenger_mean: float,
                           challenger_var: float, alpha: float,
                           alternative: Alternative = "two-sided") -> tuple[float, float]:
    """Interval for ``challenger_mean / control_mean - 1`` from a Wald interval on the log ratio.

    ``*_var`` are the variances of the two means; the log-ratio variance is
    ``var_b / mean_b^2 + var_a / mean_a^2`` (delta method; for proportions this is statsmodels
    ``confint_proportions_2indep(compare="ratio", method="log")``). Both means must be positive.
    """
    log_ratio = math.log(challenger_mean / control_mean)
    se = math.sqrt(challenger_var / challenger_mean ** 2 + control_var / control_mean ** 2)
    lower, upper = normal_interval(log_ratio, se, alpha, alternative)
    return (math.exp(lower) - 1.0, math.exp(upper) - 1.0)
