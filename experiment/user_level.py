"""User-level analysis: CTR as a ratio metric over users (the randomisation unit).

A user who sees many impressions contributes correlated clicks, so the impression-level
binomial variance is too small. The delta method gives the variance of
``sum(clicks) / sum(impressions)`` from per-user sums; the design effect is the ratio of that
variance to the binomial one (1 when every user sees one impression).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .constants import ARM, CLICKED, NO_DATA, TOO_FEW_UNITS, USER_ID
from .frequentist import FrequentistConfig, z_comparison
from .results import ComparisonResult
from .statistics import RatioStatistic


def ratio_variance(n, m_sum, m_sum_squares, d_sum, d_sum_squares, m_d_sum_of_products):
    """Delta-method variance of ``m_sum / d_sum`` from user-level sums (arrays or floats).

    ``Var(R) ~ (s_m^2 / mu_d^2 - 2 mu_m s_md / mu_d^3 + mu_m^2 s_d^2 / mu_d^4) / n`` with sample
    (co)variances over users (n - 1); 0 where ``n <= 1`` or there are no impressions.
    """
    n, m, mm, d, dd, md = (np.asarray(a, dtype=float) for a in
                           (n, m_sum, m_sum_squares, d_sum, d_sum_squares, m_d_sum_of_products))
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_m, mu_d = m / n, d / n
        var_m = (mm - m * m / n) / (n - 1)
        var_d = (dd - d * d / n) / (n - 1)
        cov = (md - m * d / n) / (n - 1)
        unit = var_m / mu_d ** 2 - 2.0 * mu_m * cov / mu_d ** 3 + mu_m ** 2 * var_d / mu_d ** 4
        result = np.maximum(unit, 0.0) / n
    result = np.where((n > 1) & (d > 0), result, 0.0)
    return float(result) if result.ndim == 0 else result


def variance_of_ratio(stat: RatioStatistic) -> float:
    """Delta-method variance of ``stat.mean`` (sample variances with n - 1)."""
    return ratio_variance(stat.n, stat.m_sum, stat.m_sum_squares, stat.d_sum, stat.d_sum_squares,
                          stat.m_d_sum_of_products)


def design_effect(stat: RatioStatistic) -> float:
    """Delta-method variance over the binomial variance of the arm's CTR (1.0 if undefined)."""
    binomial = stat.proportion.variance / stat.d_sum if stat.d_sum else 0.0
    delta = variance_of_ratio(stat)
    return delta / binomial if binomial > 0.0 and delta > 0.0 else 1.0


def ratio_statistics(impressions: pd.DataFrame) -> dict[str, RatioStatistic]:
    """Per-arm :class:`RatioStatistic` from impression rows (columns ``arm``, ``user_id``, ``clicked``)."""
    per_user = (impressions.groupby([ARM, USER_ID], observed=True)[CLICKED]
                .agg(["sum", "count"]).astype(float))
    stats = {}
    for arm, group in per_user.groupby(level=0, observed=True):
        x, y = group["sum"].to_numpy(), group["count"].to_numpy()
        stats[str(arm)] = RatioStatistic(n=len(x), m_sum=float(x.sum()), m_sum_squares=float(np.dot(x, x)),
                                         d_sum=float(y.sum()), d_sum_squares=float(np.dot(y, y)),
                                         m_d_sum_of_products=float(np.dot(x, y)))
    return stats


class DeltaMethodTest:
    """z-test on the difference of two ratio metrics with delta-method variances."""

    name = "user-level delta-method z-test"

    def __init__(self, control: RatioStatistic, challenger: RatioStatistic,
                 config: FrequentistConfig | None = None) -> None:
        self.control, self.challenger = control, challenger
        self.config = config or FrequentistConfig()

    def compute_result(self) -> ComparisonResult:
        a, b, cfg = self.control, self.challenger, self.config
        if a.d_sum == 0 or b.d_sum == 0:
            return ComparisonResult(test=self.name, control_mean=a.mean, challenger_mean=b.mean, errors=(NO_DATA,))
        if a.n <= 1 or b.n <= 1:
            return ComparisonResult(test=self.name, control_mean=a.mean, challenger_mean=b.mean,
                                    errors=(TOO_FEW_UNITS,))
        var_a, var_b = variance_of_ratio(a), variance_of_ratio(b)
        return z_comparison(self.name, a.mean, var_a, b.mean, var_b, math.sqrt(var_a + var_b), cfg)
