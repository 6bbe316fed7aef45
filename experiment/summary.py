"""Per-arm summaries from counts: what the website's /experiment page and the report show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .intervals import wilson_interval
from .statistics import ProportionStatistic


@dataclass(frozen=True)
class ArmSummary:
    """One arm's CTR with its Wilson interval and its share of the traffic."""

    arm: str
    impressions: int
    clicks: int
    ctr: float
    ci_lower: float
    ci_upper: float
    share: float

    def to_dict(self) -> dict:
        return asdict(self)


def arm_summary(arm: str, impressions: int, clicks: int, total_impressions: int | None = None,
                alpha: float = 0.05) -> ArmSummary:
    """Summarise one arm from its impression and click counts."""
    stat = ProportionStatistic(n=int(impressions), clicks=int(clicks))
    lower, upper = wilson_interval(stat.clicks, stat.n, alpha)
    total = stat.n if total_impressions is None else int(total_impressions)
    return ArmSummary(arm=arm, impressions=stat.n, clicks=stat.clicks, ctr=stat.mean,
                      ci_lower=lower, ci_upper=upper, share=stat.n / total if total else 0.0)


def summarize_counts(counts: Mapping[str, tuple[int, int]], alpha: float = 0.05) -> list[ArmSummary]:
    """Summaries for ``{arm: (impressions, clicks)}``, in the mapping's order.

    >>> [s.ctr for s in summarize_counts({"control": (100, 7), "challenger": (100, 11)})]
    [0.07, 0.11]
    """
    total = sum(int(n) for n, _ in counts.values())
    return [arm_summary(arm, n, clicks, total, alpha) for arm, (n, clicks) in counts.items()]
