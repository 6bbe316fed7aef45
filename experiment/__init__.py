"""Statistics for the Funflix A/B test: design (sample size, duration) and analysis (CTR per
arm, frequentist, user-level, sequential and Bayesian tests, sample-ratio check, verdict)."""

from .analysis import AnalysisConfig, AnalysisResult, analyze, validate_impressions
from .bayesian import BayesianConfig, BayesianResult, BetaBinomialTest
from .design import PlanConfig, PlanResult, duration_days, plan, power_two_proportions
from .frequentist import FrequentistConfig, TwoProportionZTest, chi_square_test
from .intervals import wilson_interval, z_critical
from .results import ComparisonResult
from .sequential import SequentialConfig, SequentialResult, sequential_test
from .srm import SrmResult, check_srm
from .statistics import ProportionStatistic, RatioStatistic
from .summary import ArmSummary, arm_summary, summarize_counts
from .user_level import DeltaMethodTest, design_effect, variance_of_ratio
from .verdict import Verdict

__all__ = [
    "AnalysisConfig",
    "AnalysisResult",
    "ArmSummary",
    "BayesianConfig",
    "BayesianResult",
    "BetaBinomialTest",
    "ComparisonResult",
    "DeltaMethodTest",
    "FrequentistConfig",
    "PlanConfig",
    "PlanResult",
    "ProportionStatistic",
    "RatioStatistic",
    "SequentialConfig",
    "SequentialResult",
    "SrmResult",
    "TwoProportionZTest",
    "Verdict",
    "analyze",
    "arm_summary",
    "check_srm",
    "chi_square_test",
    "design_effect",
    "duration_days",
    "plan",
    "power_two_proportions",
    "sequential_test",
    "summarize_counts",
    "validate_impressions",
    "variance_of_ratio",
    "wilson_interval",
    "z_critical",
]
