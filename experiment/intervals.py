"""Confidence intervals for one proportion."""

from __future__ import annotations

import math

from scipy.stats import norm


def z_critical(alpha: float, sides: int = 2) -> float:
    """The normal quantile for a test at level ``alpha`` (one- or two-sided)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if sides not in (1, 2):
        raise ValueError(f"sides must be 1 or 2, got {sides}")
    return float(norm.ppf(1.0 - alpha / sides))


def wilson_interval(clicks: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided Wilson score interval for ``clicks`` successes in ``n`` trials.

    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage at 0 or ``n``
    clicks. With no trials it returns the uninformative (0, 1).
    """
    if n < 0 or clicks < 0 or clicks > n:
        raise ValueError(f"need 0 <= clicks <= n, got clicks={clicks}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = z_critical(alpha, 2)
    p = clicks / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    lower = 0.0 if clicks == 0 else max(0.0, centre - half)
    upper = 1.0 if clicks == n else min(1.0, centre + half)
    return (lower, upper)
