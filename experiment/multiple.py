"""Multiple-testing control when more than one challenger is compared with control."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (controls the family-wise error rate; statsmodels
    ``multipletests(method="holm")``)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    result = np.empty(m)
    result[order] = adjusted
    return result.tolist()


def bonferroni_alpha(alpha: float, comparisons: int) -> float:
    """Per-comparison level for the always-valid tests (Holm needs fixed p-values)."""
    return alpha / max(comparisons, 1)
