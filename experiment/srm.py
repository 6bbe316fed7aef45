"""Sample-ratio mismatch: does the observed traffic split match the configured one?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scipy.stats import chi2

from .constants import NO_DATA

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of impressions per arm against the configured split."""

    arms: tuple[str, ...] = ()
    observed: tuple[int, ...] = ()
    expected_shares: tuple[float, ...] = ()
    observed_shares: tuple[float, ...] = ()
    statistic: float = 0.0
    p_value: float = 1.0
    threshold: float = SRM_THRESHOLD
    mismatch: bool = False
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def check_srm(arms: Sequence[str], observed: Sequence[int], expected_shares: Sequence[float],
              threshold: float = SRM_THRESHOLD) -> SrmResult:
    """Flag a mismatch when the chi-square p-value is below ``threshold`` (0.001 by default).

    ``expected_shares`` are normalised to sum to one (scipy ``chisquare`` gives the same).
    """
    if not (len(arms) == len(observed) == len(expected_shares)):
        raise ValueError("arms, observed counts and expected shares must have the same length")
    if any(share <= 0 for share in expected_shares):
        raise ValueError(f"expected shares must be positive, got {list(expected_shares)}")
    total = int(sum(observed))
    share_total = float(sum(expected_shares))
    shares = tuple(float(s) / share_total for s in expected_shares)
    base = dict(arms=tuple(arms), observed=tuple(int(o) for o in observed), expected_shares=shares,
                threshold=threshold)
    if total == 0 or len(arms) < 2:
        return SrmResult(**base, observed_shares=tuple(0.0 for _ in arms), errors=(NO_DATA,))
    statistic = sum((o - total * s) ** 2 / (total * s) for o, s in zip(observed, shares))
    p_value = float(chi2.sf(statistic, len(arms) - 1))
    return SrmResult(**base, observed_shares=tuple(o / total for o in observed), statistic=float(statistic),
                     p_value=p_value, mismatch=p_value < threshold)
