"""Statistics for the Funflix A/B test: design (sample size, duration) and analysis (CTR per
arm, frequentist, user-level, sequential and Bayesian tests, sample-ratio check, verdict)."""

from .intervals import wilson_interval, z_critical
from .statistics import ProportionStatistic, RatioStatistic
from .summary import ArmSummary, arm_summary, summarize_counts

__all__ = [
    "ArmSummary",
    "ProportionStatistic",
    "RatioStatistic",
    "arm_summary",
    "summarize_counts",
    "wilson_interval",
    "z_critical",
]
