"""Cumulative per-arm statistics over time, impression by impression.

Rows are sorted by ``created_at``; for every prefix of the experiment we keep each arm's
user-level sums (users, clicks, impressions, and their squares and products), updated
exactly as each impression arrives. That gives the sequential test at every impression and
the report's curves at a few hundred checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import ARM, CLICKED, CREATED_AT, USER_ID
from .statistics import RatioStatistic

SUM_FIELDS = ("n", "m_sum", "m_sum_squares", "d_sum", "d_sum_squares", "m_d_sum_of_products")


@dataclass(frozen=True)
class CumulativeArm:
    """One arm's :class:`RatioStatistic` fields after each impression of the whole experiment."""

    arm: str
    n: np.ndarray
    m_sum: np.ndarray
    m_sum_squares: np.ndarray
    d_sum: np.ndarray
    d_sum_squares: np.ndarray
    m_d_sum_of_products: np.ndarray

    def at(self, index: int) -> RatioStatistic:
        return RatioStatistic(**{f: float(getattr(self, f)[index]) if f != "n" else int(self.n[index])
                                 for f in SUM_FIELDS})


@dataclass(frozen=True)
class Cumulative:
    """Impression times (sorted) and each arm's cumulative sums aligned with them."""

    times: pd.Series
    arms: dict[str, CumulativeArm]


def sort_impressions(impressions: pd.DataFrame) -> pd.DataFrame:
    """Rows in time order (ties keep input order)."""
    return impressions.sort_values(CREATED_AT, kind="stable").reset_index(drop=True)


def cumulative_statistics(impressions: pd.DataFrame, arms: list[str]) -> Cumulative:
    """Exact user-level running sums per arm; ``impressions`` must already be time-sorted."""
    clicked = impressions[CLICKED].to_numpy(dtype=float)
    keys = [impressions[ARM], impressions[USER_ID]]
    grouped = impressions.assign(_c=clicked).groupby(keys, sort=False, observed=True)
    k = grouped.cumcount().to_numpy(dtype=float) + 1.0          # this user's impressions so far
    x = grouped["_c"].cumsum().to_numpy(dtype=float)             # this user's clicks so far
    x_old, k_old = x - clicked, k - 1.0
    increments = {
        "n": (k == 1.0).astype(float),
        "m_sum": clicked,
        "m_sum_squares": x * x - x_old * x_old,
        "d_sum": np.ones_like(clicked),
        "d_sum_squares": 2.0 * k - 1.0,
        "m_d_sum_of_products": x * k - x_old * k_old,
    }
    arm_values = impressions[ARM].to_numpy()
    result = {}
    for arm in arms:
        mask = arm_values == arm
        sums = {f: np.cumsum(np.where(mask, inc, 0.0)) for f, inc in increments.items()}
        sums["n"] = sums["n"].astype(np.int64)
        result[arm] = CumulativeArm(arm=arm, **sums)
    return Cumulative(times=impressions[CREATED_AT].reset_index(drop=True), arms=result)


def checkpoints(total: int, max_points: int) -> np.ndarray:
    """Up to ``max_points`` evenly spaced row indices ending with the last row."""
    if total == 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, total - 1, min(total, max_points)).round().astype(int))
