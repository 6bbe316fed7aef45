"""CUPED: variance reduction with a pre-experiment covariate, for CTR as a ratio metric.

Each user's contribution to an arm's CTR ``R = sum x / sum y`` is linearised (delta method),
``L_u = (x_u - R y_u) / mean(y)``; a covariate ``X_u`` measured before the experiment (so the
arms cannot have changed it) explains part of ``L``. With the pooled within-arm slope
``theta = sum (L - 0)(X - mean_arm X) / sum (X - mean_arm X)^2`` each arm's CTR becomes
``R - theta (mean_arm X - mean_all X)`` with variance ``Var(L - theta X) / n``: unbiased
(randomisation balances X), and narrower by about the squared correlation of L and X
(Deng, Xu, Kohavi & Walker, 2013). With one impression per user it is ANCOVA.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .constants import ARM, BASELINE_ZERO, CLICKED, NO_CLICKS, NO_DATA, TOO_FEW_UNITS, USER_ID, ZERO_VARIANCE
from .effects import normal_interval, normal_p_value
from .frequentist import FrequentistConfig, _relative_lift
from .results import ComparisonResult

COVARIATE = "covariate"


@dataclass(frozen=True)
class CupedSummary:
    """How much the covariate helped: slope, share of users who had one, variance reduction."""

    theta: float = 0.0
    coverage: float = 0.0
    variance_reduction: float = 0.0
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def per_user_frame(impressions: pd.DataFrame, covariates: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, user) of impression rows: clicks ``x``, impressions ``y`` and the covariate."""
    users = (impressions.groupby([ARM, USER_ID], observed=True)[CLICKED].agg(x="sum", y="count")
             .astype(float).reset_index())
    return with_covariates(users, covariates)


def with_covariates(users: pd.DataFrame, covariates: pd.DataFrame) -> pd.DataFrame:
    """Per-user rows (``arm``, ``user_id``, ``x``, ``y``) with each user's covariate (missing ones get
    the mean, which leaves those users unadjusted)."""
    if USER_ID not in covariates.columns or COVARIATE not in covariates.columns:
        raise ValueError(f"covariates need columns '{USER_ID}' and '{COVARIATE}'")
    values = pd.to_numeric(covariates[COVARIATE], errors="coerce")
    if values.isna().any() or not np.isfinite(values.to_numpy(float)).all():
        raise ValueError("covariate values must be finite numbers")
    if covariates[USER_ID].duplicated().any():
        raise ValueError("covariates must have one row per user")
    users = users.copy()
    lookup = pd.Series(values.to_numpy(float), index=covariates[USER_ID].to_numpy())
    users[COVARIATE] = users[USER_ID].map(lookup)
    users["has_covariate"] = users[COVARIATE].notna()
    fill = float(users[COVARIATE].mean()) if users["has_covariate"].any() else 0.0
    users[COVARIATE] = users[COVARIATE].fillna(fill)
    return users


class CupedTest:
    """Challenger versus control on covariate-adjusted user-level CTR."""

    name = "CUPED user-level z-test"

    def __init__(self, users: pd.DataFrame, control: str, challenger: str,
                 config: FrequentistConfig | None = None) -> None:
        self.users, self.control, self.challenger = users, control, challenger
        self.config = config or FrequentistConfig()

    def compute(self) -> tuple[ComparisonResult, CupedSummary]:
        cfg = self.config
        arms = [self.users[self.users[ARM] == arm] for arm in (self.control, self.challenger)]
        if any(a["y"].sum() == 0 for a in arms):
            return ComparisonResult(test=self.name, errors=(NO_DATA,)), CupedSummary(errors=(NO_DATA,))
        if any(len(a) <= 1 for a in arms):
            return ComparisonResult(test=self.name, errors=(TOO_FEW_UNITS,)), CupedSummary(errors=(TOO_FEW_UNITS,))
        parts = []
        for a in arms:
            x, y, cov = (a[c].to_numpy(float) for c in ("x", "y", COVARIATE))
            ratio = x.sum() / y.sum()
            parts.append((ratio, (x - ratio * y) / y.mean(), cov))
        centred = [cov - cov.mean() for _, _, cov in parts]
        sxx = sum(float(np.dot(c, c)) for c in centred)
        theta = sum(float(np.dot(lin, c)) for (_, lin, _), c in zip(parts, centred)) / sxx if sxx > 0 else 0.0
        grand = np.concatenate([cov for _, _, cov in parts]).mean()
        means, variances, raw = [], [], []
        for ratio, lin, cov in parts:
            means.append(ratio - theta * (cov.mean() - grand))
            variances.append(float(np.var(lin - theta * cov, ddof=1)) / len(lin))
            raw.append(float(np.var(lin, ddof=1)) / len(lin))
        coverage = float(self.users.loc[self.users[ARM].isin([self.control, self.challenger]), "has_covariate"].mean())
        reduction = 1.0 - sum(variances) / sum(raw) if sum(raw) > 0 else 0.0
        summary = CupedSummary(theta=theta, coverage=coverage, variance_reduction=reduction)
        difference = means[1] - means[0]
        se = math.sqrt(sum(variances))
        if se == 0.0:
            return ComparisonResult(test=self.name, control_mean=means[0], challenger_mean=means[1],
                                    difference=difference, difference_ci=(difference, difference),
                                    errors=(ZERO_VARIANCE,)), summary
        z = difference / se
        p_value = normal_p_value(z, cfg.alternative)
        if min(means) > 0:
            lift, lift_ci, errors = _relative_lift(means[0], variances[0], means[1], variances[1], cfg.alpha,
                                                   cfg.alternative)
        else:  # an adjusted CTR at or below zero (tiny CTRs): no relative lift
            lift, lift_ci, errors = 0.0, (0.0, 0.0), (BASELINE_ZERO if means[0] <= 0 else NO_CLICKS,)
        return ComparisonResult(
            test=self.name, control_mean=means[0], challenger_mean=means[1], difference=difference,
            difference_ci=normal_interval(difference, se, cfg.alpha, cfg.alternative), relative_lift=lift,
            relative_lift_ci=lift_ci, standard_error=se, statistic=z, p_value=p_value,
            significant=p_value < cfg.alpha, errors=errors), summary
