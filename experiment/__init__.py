"""Statistics for the Funflix A/B test: design (sample size, duration) and analysis (CTR per
arm, frequentist, user-level, sequential and Bayesian tests, sample-ratio check, verdict).

Names load lazily (PEP 562) so ``funflix --help`` does not pay for scipy and pandas.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "analysis": ("AnalysisConfig", "AnalysisResult", "analyze", "validate_impressions"),
    "bayesian": ("BayesianConfig", "BayesianResult", "BetaBinomialTest"),
    "configured": ("analysis_config",),
    "cuped": ("CupedSummary", "CupedTest"),
    "design": ("PlanConfig", "PlanResult", "duration_days", "plan", "power_two_proportions"),
    "frequentist": ("FrequentistConfig", "TwoProportionZTest", "chi_square_test"),
    "interleaving": ("InterleavingConfig", "InterleavingResult", "analyze_interleaving", "plan_users"),
    "intervals": ("wilson_interval", "z_critical"),
    "plots": ("figures_svg",),
    "report": ("render_html", "write_report"),
    "results": ("ComparisonResult",),
    "sequential": ("SequentialConfig", "SequentialResult", "sequential_test"),
    "srm": ("SrmResult", "check_srm"),
    "statistics": ("ProportionStatistic", "RatioStatistic"),
    "summary": ("ArmSummary", "arm_summary", "summarize_counts"),
    "user_level": ("DeltaMethodTest", "design_effect", "variance_of_ratio"),
    "verdict": ("Verdict",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
