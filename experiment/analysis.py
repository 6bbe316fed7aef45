"""``analyze(impressions, config)``: every test over the event store's impressions, one result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from .bayesian import BayesianConfig, BayesianResult, BetaBinomialTest
from .constants import (ARM, CLICKED, CREATED_AT, DEFAULT_CONTROL, IMPRESSION_ID, NO_DATA, ONE_ARM_ONLY,
                        REQUIRED_COLUMNS, STATUS, USER_ID)
from .cuped import CupedSummary, CupedTest, per_user_frame
from .frequentist import ChiSquareResult, FrequentistConfig, TwoProportionZTest, chi_square_test
from .intervals import wilson_interval
from .multiple import bonferroni_alpha, holm_adjust
from .results import ComparisonResult
from .sequential import SequentialConfig, SequentialPath, SequentialResult, sequential_test, user_level_looks
from .srm import SRM_THRESHOLD, SrmResult, check_srm
from .statistics import ProportionStatistic, RatioStatistic
from .summary import ArmSummary, arm_summary
from .timeline import SUM_FIELDS, checkpoints, cumulative_statistics, sort_impressions
from .user_level import DeltaMethodTest, design_effect, ratio_statistics, variance_of_ratio
from .verdict import ArmEvidence, Verdict, arm_verdict, overall_verdict


@dataclass(frozen=True)
class AnalysisConfig:
    """How to read the experiment.

    ``expected_split`` maps arm -> configured traffic share (default: equal shares over the
    arms seen). ``decision_rule`` picks the test the verdict rests on: the always-valid
    ``sequential`` test (safe to read any time), the ``fixed``-horizon user-level z-test,
    read once ``planned_per_arm`` impressions per arm are in, or the ``bayesian`` expected
    loss against ``loss_threshold`` (absolute CTR). ``adaptive_routing`` (a bandit
    router) skips the sample-ratio check, since the split is meant to drift.
    ``randomisation_unit`` is what the router splits: ``user`` (sticky routing; the
    sample-ratio check counts users) or ``impression`` (per-request routing).
    """

    control: str = DEFAULT_CONTROL
    alpha: float = 0.05
    alternative: Literal["two-sided", "greater", "less"] = "two-sided"
    expected_split: dict[str, float] | None = None
    srm_threshold: float = SRM_THRESHOLD
    mixture_sd: float = 0.03
    prior_a: float = 1.0
    prior_b: float = 1.0
    loss_threshold: float = 0.001
    decision_rule: Literal["sequential", "fixed", "bayesian"] = "sequential"
    planned_per_arm: int | None = None
    adaptive_routing: bool = False
    randomisation_unit: Literal["user", "impression"] = "user"
    max_points: int = 200

    def __post_init__(self) -> None:
        FrequentistConfig(self.alpha, self.alternative)
        SequentialConfig(self.alpha, self.mixture_sd)
        BayesianConfig(self.prior_a, self.prior_b, self.loss_threshold)
        if self.decision_rule not in ("sequential", "fixed", "bayesian"):
            raise ValueError(f"decision rule must be sequential, fixed or bayesian, got {self.decision_rule!r}")
        if self.planned_per_arm is not None and self.planned_per_arm <= 0:
            raise ValueError(f"planned sample size must be positive, got {self.planned_per_arm}")
        if self.expected_split is not None and any(not share > 0 for share in self.expected_split.values()):
            raise ValueError(f"configured shares must be positive, got {dict(self.expected_split)}")
        if self.randomisation_unit not in ("user", "impression"):
            raise ValueError(f"randomisation unit must be user or impression, got {self.randomisation_unit!r}")
        if self.max_points < 2:
            raise ValueError("max_points must be at least 2")


@dataclass(frozen=True)
class UserLevelSummary:
    """One arm at the randomisation unit: users, impressions per user, design effect."""

    arm: str
    users: int
    impressions_per_user: float
    ctr: float
    standard_error: float
    design_effect: float


@dataclass(frozen=True)
class Comparison:
    """One challenger against control on every test."""

    arm: str
    z_test: ComparisonResult
    user_level: ComparisonResult
    sequential: SequentialResult
    bayesian: BayesianResult
    holm_p_value: float
    verdict: Verdict
    cuped: ComparisonResult | None = None
    cuped_summary: CupedSummary | None = None


@dataclass(frozen=True)
class Timeline:
    """Checkpoints through the experiment for the report's plots (cumulative per arm)."""

    times: tuple[str, ...] = ()
    impressions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    clicks: dict[str, tuple[int, ...]] = field(default_factory=dict)
    ctr_lower: dict[str, tuple[float, ...]] = field(default_factory=dict)
    ctr_upper: dict[str, tuple[float, ...]] = field(default_factory=dict)
    sequential: dict[str, SequentialPath] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisResult:
    """The whole analysis; ``to_dict()`` is what ``funflix analyze --json`` prints."""

    control: str
    alpha: float
    arms: tuple[ArmSummary, ...]
    user_level: tuple[UserLevelSummary, ...]
    srm: SrmResult
    chi_square: ChiSquareResult
    comparisons: tuple[Comparison, ...]
    verdict: Verdict
    timeline: Timeline
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def comparison(self, arm: str) -> Comparison:
        for c in self.comparisons:
            if c.arm == arm:
                return c
        raise KeyError(arm)

    def to_dict(self, include_timeline: bool = True) -> dict:
        data = asdict(self)
        if not include_timeline:
            data.pop("timeline")
        return _finite(data)


def validate_impressions(impressions: pd.DataFrame) -> pd.DataFrame:
    """Check the event-store contract and normalise types (fallback rows with no arm dropped)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in impressions.columns]
    if missing:
        raise ValueError(f"impressions are missing column(s): {', '.join(missing)}")
    df = impressions.loc[impressions[ARM].notna(), list(REQUIRED_COLUMNS)].copy()
    df[ARM] = df[ARM].astype(str)
    clicked = pd.to_numeric(df[CLICKED], errors="coerce")
    if clicked.isna().any() or not clicked.isin([0, 1]).all():
        raise ValueError("column 'clicked' must hold only 0 or 1")
    df[CLICKED] = clicked.astype(int)
    try:
        df[CREATED_AT] = pd.to_datetime(df[CREATED_AT], utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column 'created_at' holds values that are not times: {exc}") from None
    if df[CREATED_AT].isna().any():
        raise ValueError("column 'created_at' has missing values")
    if df[USER_ID].isna().any():
        raise ValueError("column 'user_id' has missing values")
    duplicated = int(df[IMPRESSION_ID].duplicated().sum())
    if duplicated:
        raise ValueError(f"column 'impression_id' must be unique ({duplicated} repeated rows)")
    return df


def analyze(impressions: pd.DataFrame, config: AnalysisConfig | None = None,
            covariates: pd.DataFrame | None = None) -> AnalysisResult:
    """Run every test of challenger(s) against ``config.control`` over impression rows.

    ``covariates`` (columns ``user_id``, ``covariate``: one pre-experiment number per user)
    adds a CUPED test, which then becomes the fixed-horizon test of record.
    """
    cfg = config or AnalysisConfig()
    df = sort_impressions(validate_impressions(impressions))
    still_open = int((impressions[STATUS] == "open").sum()) if STATUS in impressions.columns else 0
    arms = _arm_order(df, cfg)
    counts = df.groupby(ARM)[CLICKED].agg(["count", "sum"])
    props = {a: ProportionStatistic(int(counts.at[a, "count"]) if a in counts.index else 0,
                                    int(counts.at[a, "sum"]) if a in counts.index else 0) for a in arms}
    total = sum(p.n for p in props.values())
    summaries = tuple(arm_summary(a, props[a].n, props[a].clicks, total, cfg.alpha) for a in arms)
    ratios = ratio_statistics(df)
    ratios = {a: ratios.get(a, RatioStatistic(0, 0, 0, 0, 0, 0)) for a in arms}
    user_level = tuple(_user_summary(a, ratios[a]) for a in arms)

    # the split is a split of randomisation units: users under sticky routing, else impressions
    units = {a: ratios[a].n if cfg.randomisation_unit == "user" else props[a].n for a in arms}
    split = dict(cfg.expected_split) if cfg.expected_split and not cfg.adaptive_routing else {a: 1.0 for a in arms}
    if cfg.adaptive_routing:
        srm = SrmResult(arms=tuple(arms), observed=tuple(units[a] for a in arms), threshold=cfg.srm_threshold)
    elif all(split.get(a, 0.0) > 0 for a in arms):
        srm = check_srm(arms, [units[a] for a in arms], [split[a] for a in arms], cfg.srm_threshold)
    else:
        srm = _srm_unconfigured(arms, units, split, cfg)
    chi = chi_square_test([props[a] for a in arms], cfg.alpha)

    challengers = [a for a in arms if a != cfg.control]
    seq_alpha = bonferroni_alpha(cfg.alpha, len(challengers))
    cumulative = cumulative_statistics(df, arms)
    points = checkpoints(len(df), cfg.max_points)
    freq_cfg = FrequentistConfig(cfg.alpha, cfg.alternative)
    seq_cfg = SequentialConfig(seq_alpha, cfg.mixture_sd)
    bayes_cfg = BayesianConfig(cfg.prior_a, cfg.prior_b, cfg.loss_threshold)

    users = per_user_frame(df, covariates) if covariates is not None else None
    partial, paths = [], {}
    for arm in challengers:
        z = TwoProportionZTest(props[cfg.control], props[arm], freq_cfg).compute_result()
        user = DeltaMethodTest(ratios[cfg.control], ratios[arm], freq_cfg).compute_result()
        cuped = CupedTest(users, cfg.control, arm, freq_cfg).compute() if users is not None else (None, None)
        seq, paths[arm] = _sequential(cumulative, cfg.control, arm, seq_cfg, points)
        effects = (max(design_effect(ratios[cfg.control]), 1.0), max(design_effect(ratios[arm]), 1.0))
        bayes = BetaBinomialTest(props[cfg.control], props[arm], bayes_cfg, effects).compute_result()
        partial.append((arm, z, user, cuped, seq, bayes))
    # the fixed-horizon test of record: CUPED when a covariate is given, else the user-level test
    holm = holm_adjust([(cuped[0] or user).p_value for _, _, user, cuped, _, _ in partial])
    comparisons = []
    for (arm, z, user, (cuped, cuped_summary), seq, bayes), p_holm in zip(partial, holm):
        if len(challengers) > 1:
            user = _with_alpha(user, p_holm, cfg.alpha) if cuped is None else user
            cuped = _with_alpha(cuped, p_holm, cfg.alpha) if cuped is not None else None
        evidence = ArmEvidence(arm, props[arm].n, props[cfg.control].n, seq, cuped or user, bayes)
        comparisons.append(Comparison(arm, z, user, seq, bayes, p_holm,
                                      arm_verdict(evidence, cfg.decision_rule, cfg.planned_per_arm,
                                                  cfg.loss_threshold), cuped, cuped_summary))

    errors, notes = [], []
    if total == 0:
        errors.append(NO_DATA)
        verdict = Verdict("keep running", "none", "no impressions yet")
    elif props[cfg.control].n == 0 or not challengers or all(props[a].n == 0 for a in challengers):
        errors.append(ONE_ARM_ONLY)
        seen = ", ".join(a for a in arms if props[a].n > 0)
        reason = (f"the control arm {cfg.control!r} has no impressions (arms seen: {seen})"
                  if props[cfg.control].n == 0 else f"only {seen} has impressions: nothing to compare")
        verdict = Verdict("inconclusive", "none", reason)
    else:
        verdict = overall_verdict(srm, [c.verdict for c in comparisons],
                                  {c.arm: c.user_level.relative_lift for c in comparisons})
    if len(challengers) > 1:
        notes.append(f"{len(challengers)} challengers: fixed-horizon p-values are Holm-adjusted and the "
                     f"sequential tests run at alpha/{len(challengers)} = {seq_alpha:.4g} (Bonferroni), "
                     f"so the chance of any false winner stays at or below {cfg.alpha}")
    unconfigured = [a for a in arms if props[a].n > 0 and split.get(a, 0.0) <= 0]
    if unconfigured and not cfg.adaptive_routing:
        notes.append(f"arm(s) {', '.join(unconfigured)} get traffic but have no configured share: the sample-ratio "
                     f"check flags that as a mismatch (configure the split to include them)")
    if still_open:
        notes.append(f"{still_open} impressions are still open (their user may yet click): counted as not "
                     f"clicked so far")
    if cfg.adaptive_routing:
        notes.append("adaptive (bandit) routing: the split drifts by design, so there is no sample-ratio check, "
                     "and pooled estimates may be biased by time trends")
    for c in comparisons:
        if c.cuped_summary is not None and not c.cuped_summary.errors:
            notes.append(f"CUPED ({c.arm}): the covariate (known for {c.cuped_summary.coverage:.0%} of users) cuts "
                         f"the variance by {c.cuped_summary.variance_reduction:.0%}; it is the fixed-horizon test "
                         f"of record")
    deff = max((u.design_effect for u in user_level), default=1.0)
    if deff > 1.1:
        notes.append(f"users see several impressions: design effect up to {deff:.2f}, so impression-level "
                     f"tests overstate precision; the verdict uses user-level variances")
    timeline = _timeline(cumulative, arms, points, paths, cfg.alpha)
    return AnalysisResult(control=cfg.control, alpha=cfg.alpha, arms=summaries, user_level=user_level, srm=srm,
                          chi_square=chi, comparisons=tuple(comparisons), verdict=verdict, timeline=timeline,
                          notes=tuple(notes), errors=tuple(errors))


def _arm_order(df: pd.DataFrame, cfg: AnalysisConfig) -> list[str]:
    seen = sorted(df[ARM].unique().tolist())
    configured = list(cfg.expected_split or {})
    arms = [cfg.control] + [a for a in configured + seen if a != cfg.control]
    return list(dict.fromkeys(arms))


def _srm_unconfigured(arms, units, split, cfg) -> SrmResult:
    """An arm that gets traffic but has no configured share is itself a mismatch."""
    unexpected = [a for a in arms if split.get(a, 0.0) <= 0 and units[a] > 0]
    total = sum(units[a] for a in arms)
    return SrmResult(arms=tuple(arms), observed=tuple(units[a] for a in arms),
                     expected_shares=tuple(float(split.get(a, 0.0)) for a in arms),
                     observed_shares=tuple(units[a] / total if total else 0.0 for a in arms),
                     statistic=0.0, p_value=0.0 if unexpected else 1.0, threshold=cfg.srm_threshold,
                     mismatch=bool(unexpected))


def _user_summary(arm: str, stat: RatioStatistic) -> UserLevelSummary:
    return UserLevelSummary(arm=arm, users=stat.n, impressions_per_user=stat.d_mean, ctr=stat.mean,
                            standard_error=float(np.sqrt(variance_of_ratio(stat))),
                            design_effect=design_effect(stat))


def _sequential(cumulative, control: str, arm: str, cfg: SequentialConfig, points: np.ndarray):
    a, b = cumulative.arms[control], cumulative.arms[arm]
    readable, difference, variance = user_level_looks([getattr(a, f) for f in SUM_FIELDS],
                                                      [getattr(b, f) for f in SUM_FIELDS], cfg.variance_floor)
    both = np.flatnonzero(readable)
    looks = (a.d_sum + b.d_sum)[both]
    result, path = sequential_test(looks, difference[both], variance[both], cfg)
    if not path.looks:
        return result, path
    # keep the path at the checkpoints only (the p-value already saw every impression)
    keep = np.searchsorted(both, points[points >= both[0]])
    keep = np.unique(np.clip(keep, 0, len(both) - 1))
    thin = SequentialPath(**{f: tuple(np.asarray(getattr(path, f))[keep].tolist()) for f in
                             ("looks", "difference", "ci_lower", "ci_upper", "log_likelihood_ratio", "p_value")})
    return result, thin


def _with_alpha(result: ComparisonResult, p_adjusted: float, alpha: float) -> ComparisonResult:
    return replace(result, significant=p_adjusted < alpha)


def _timeline(cumulative, arms, points, paths, alpha) -> Timeline:
    if len(points) == 0:
        return Timeline()
    times = tuple(t.isoformat() for t in cumulative.times.iloc[points])
    impressions, clicks, lower, upper = {}, {}, {}, {}
    for arm in arms:
        n = cumulative.arms[arm].d_sum[points].astype(int)
        x = cumulative.arms[arm].m_sum[points].astype(int)
        bounds = [wilson_interval(int(c), int(k), alpha) for c, k in zip(x, n)]
        impressions[arm], clicks[arm] = tuple(n.tolist()), tuple(x.tolist())
        lower[arm] = tuple(b[0] for b in bounds)
        upper[arm] = tuple(b[1] for b in bounds)
    return Timeline(times=times, impressions=impressions, clicks=clicks, ctr_lower=lower, ctr_upper=upper,
                    sequential=paths)


def _finite(value):
    """Replace +-inf (one-sided interval ends) by None so the dict is strict JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
