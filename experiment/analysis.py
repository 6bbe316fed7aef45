"""``analyze(impressions, config)``: every test over the event store's impressions, one result.

The tests read :class:`Observations` (per-arm user-level sums, the replayed sequential test, the
fixed horizon's sums); :func:`analyze` builds them from a DataFrame of impressions and
``funflix.experiment.store_analysis`` from the event store's own aggregates, then
:func:`analyze_observations` runs the same tests on either.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from .bayesian import BayesianConfig, BayesianResult, BetaBinomialTest
from .constants import (ARM, CLICKED, CREATED_AT, DEFAULT_CONTROL, IMPRESSION_ID, NO_DATA, ONE_ARM_ONLY,
                        REQUIRED_COLUMNS, STATUS, USER_ID, VISIT)
from .cuped import CupedSummary, CupedTest, per_user_frame
from .frequentist import ChiSquareResult, FrequentistConfig, TwoProportionZTest, chi_square_test, z_comparison
from .multiple import bonferroni_alpha, holm_adjust
from .replay import Replay, Timeline
from .results import ComparisonResult
from .sequential import SequentialConfig, SequentialResult
from .srm import SRM_THRESHOLD, SrmResult, check_srm
from .statistics import RatioStatistic
from .summary import ArmSummary, arm_summary
from .user_level import DeltaMethodTest, design_effect, ratio_statistics, variance_of_ratio
from .verdict import INCONCLUSIVE, SHIP, HARM, ArmEvidence, Verdict, arm_verdict, overall_verdict

EMPTY = RatioStatistic(0, 0, 0, 0, 0, 0)
CHUNK_ROWS = 200_000


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
        if self.decision_rule == "fixed" and self.planned_per_arm is None:
            raise ValueError("the fixed-horizon rule needs its plan: give the planned sample size per arm "
                             "(--planned-per-arm, from funflix plan); without one, use the sequential rule")
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
    visits: int = 0
    visit_ctr: float = 0.0                   # share of visits with a recommendation click


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
    visit_level: ComparisonResult            # share of visits with a recommendation click (user level)
    impressions_per_user: ComparisonResult   # do the arms show users as many rows?
    fixed_horizon: ComparisonResult | None = None   # the user-level test on the data up to the plan
    cuped: ComparisonResult | None = None
    cuped_summary: CupedSummary | None = None


@dataclass(frozen=True)
class Observations:
    """What the tests read, however it was gathered.

    ``ratios``: per arm, clicked impressions over impressions as user-level sums; ``visits``: clicked
    visits over visits, the same way; ``horizon``: each arm's sums up to its planned horizon and
    ``horizon_units`` the randomisation units seen there (only with a plan); ``users``: per (arm,
    user) clicks ``x`` and impressions ``y`` (only for CUPED).
    """

    arms: list[str]
    ratios: dict[str, RatioStatistic]
    visits: dict[str, RatioStatistic]
    sequential: dict[str, SequentialResult]
    timeline: Timeline
    still_open: int = 0
    horizon: dict[str, RatioStatistic] | None = None
    horizon_units: dict[str, int] | None = None
    users: pd.DataFrame | None = None


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
    still_open: int = 0                      # impressions that may yet be clicked (counted as not clicked)

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
    columns = list(REQUIRED_COLUMNS) + [c for c in (VISIT, STATUS) if c in impressions.columns]
    df = impressions.loc[impressions[ARM].notna(), columns].copy()
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
    if VISIT not in df.columns:  # without visits, each impression is its own visit
        df[VISIT] = df[IMPRESSION_ID]
    df[VISIT] = df[VISIT].fillna(df[IMPRESSION_ID]).astype(str)
    return df


def analyze(impressions: pd.DataFrame, config: AnalysisConfig | None = None,
            covariates: pd.DataFrame | None = None) -> AnalysisResult:
    """Run every test of challenger(s) against ``config.control`` over impression rows.

    ``covariates`` (columns ``user_id``, ``covariate``: one pre-experiment number per user)
    adds a CUPED test, which then becomes the fixed-horizon test of record.
    """
    cfg = config or AnalysisConfig()
    df = validate_impressions(impressions).sort_values(CREATED_AT, kind="stable").reset_index(drop=True)
    arms = arm_order(df[ARM].unique().tolist(), cfg)
    replay = replay_frame(df, arms, cfg)
    horizon = units = None
    cut = df
    if cfg.planned_per_arm is not None:
        cut = horizon_frame(df, cfg.planned_per_arm, cfg.randomisation_unit)
        horizon, units = ratio_statistics(cut), horizon_units(cut, cfg.randomisation_unit)
    observations = Observations(
        arms=arms, ratios=replay.ratio_statistics(), visits=visit_statistics(df),
        sequential=replay.sequential(), timeline=replay.timeline(cfg.alpha),
        still_open=int((df[STATUS] == "open").sum()) if STATUS in df.columns else 0,
        horizon=horizon, horizon_units=units,
        users=per_user_frame(cut, covariates) if covariates is not None else None)
    return analyze_observations(observations, cfg)


def replay_frame(df: pd.DataFrame, arms: list[str], cfg: AnalysisConfig) -> Replay:
    """The experiment replayed impression by impression over time-sorted rows."""
    replay = Replay(arms, cfg.control, sequential_config(cfg, arms), cfg.max_points)
    codes = pd.Categorical(df[ARM], categories=arms).codes
    times = df[CREATED_AT].astype("int64").to_numpy() / 1e9
    for start in range(0, len(df), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        replay.feed(codes[rows], df[USER_ID].to_numpy()[rows], df[CLICKED].to_numpy()[rows], times[rows])
    return replay


def sequential_config(cfg: AnalysisConfig, arms: list[str]) -> SequentialConfig:
    """The sequential tests' level: Bonferroni over the challengers."""
    return SequentialConfig(bonferroni_alpha(cfg.alpha, max(len(arms) - 1, 1)), cfg.mixture_sd)


def visit_statistics(df: pd.DataFrame) -> dict[str, RatioStatistic]:
    """Per arm, clicked visits over visits as user-level sums (a visit counts once, clicked or not)."""
    visits = df.groupby([ARM, USER_ID], observed=True)[VISIT].nunique()
    clicked = (df[df[CLICKED] == 1].groupby([ARM, USER_ID], observed=True)[VISIT].nunique()
               .reindex(visits.index, fill_value=0))
    return sums_by_arm(clicked, visits)


def sums_by_arm(numerator: pd.Series, denominator: pd.Series) -> dict[str, RatioStatistic]:
    """:class:`RatioStatistic` per arm from per-(arm, user) numerators and denominators."""
    stats = {}
    for arm, x in numerator.groupby(level=0, observed=True):
        x, y = x.to_numpy(float), denominator.loc[arm].to_numpy(float)
        stats[str(arm)] = RatioStatistic(len(x), float(x.sum()), float(np.dot(x, x)), float(y.sum()),
                                         float(np.dot(y, y)), float(np.dot(x, y)))
    return stats


def horizon_frame(df: pd.DataFrame, planned: int, unit: str) -> pd.DataFrame:
    """Each arm's rows up to the time its ``planned``-th randomisation unit arrived (all rows while
    fewer have): the only data a fixed-horizon test may read."""
    parts = []
    for _, rows in df.groupby(ARM, observed=True, sort=False):
        firsts = rows.drop_duplicates(USER_ID)[CREATED_AT] if unit == "user" else rows[CREATED_AT]
        parts.append(rows if len(firsts) < planned else rows[rows[CREATED_AT] <= firsts.iloc[planned - 1]])
    return pd.concat(parts) if parts else df


def horizon_units(df: pd.DataFrame, unit: str) -> dict[str, int]:
    counted = df.groupby(ARM, observed=True)[USER_ID].nunique() if unit == "user" else df.groupby(ARM).size()
    return {str(arm): int(n) for arm, n in counted.items()}


def analyze_observations(obs: Observations, cfg: AnalysisConfig) -> AnalysisResult:
    """Every test of the challenger(s) against ``cfg.control``, and the verdict."""
    arms = obs.arms
    ratios = {a: obs.ratios.get(a, EMPTY) for a in arms}
    visits = {a: obs.visits.get(a, EMPTY) for a in arms}
    props = {a: ratios[a].proportion for a in arms}
    total = sum(p.n for p in props.values())
    summaries = tuple(arm_summary(a, props[a].n, props[a].clicks, total, cfg.alpha) for a in arms)
    user_level = tuple(_user_summary(a, ratios[a], visits[a]) for a in arms)

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
    freq_cfg = FrequentistConfig(cfg.alpha, cfg.alternative)
    bayes_cfg = BayesianConfig(cfg.prior_a, cfg.prior_b, cfg.loss_threshold)
    horizon = {a: (obs.horizon or {}).get(a, EMPTY) for a in arms}

    partial = []
    for arm in challengers:
        z = TwoProportionZTest(props[cfg.control], props[arm], freq_cfg).compute_result()
        user = DeltaMethodTest(ratios[cfg.control], ratios[arm], freq_cfg).compute_result()
        fixed = (DeltaMethodTest(horizon[cfg.control], horizon[arm], freq_cfg).compute_result()
                 if obs.horizon is not None else None)
        cuped = CupedTest(obs.users, cfg.control, arm, freq_cfg).compute() if obs.users is not None else (None, None)
        seq = obs.sequential.get(arm) or SequentialResult(errors=(NO_DATA,))
        effects = (max(design_effect(ratios[cfg.control]), 1.0), max(design_effect(ratios[arm]), 1.0))
        bayes = BetaBinomialTest(props[cfg.control], props[arm], bayes_cfg, effects).compute_result()
        partial.append((arm, z, user, fixed, cuped, seq, bayes))
    # the fixed-horizon test of record: CUPED when a covariate is given, else the user-level test
    holm = holm_adjust([(cuped[0] or fixed or user).p_value for _, _, user, fixed, cuped, _, _ in partial])
    comparisons, flagged = [], []
    for (arm, z, user, fixed, (cuped, cuped_summary), seq, bayes), p_holm in zip(partial, holm):
        if len(challengers) > 1:
            if cuped is not None:
                cuped = _with_alpha(cuped, p_holm, cfg.alpha)
            elif fixed is not None:
                fixed = _with_alpha(fixed, p_holm, cfg.alpha)
            else:
                user = _with_alpha(user, p_holm, cfg.alpha)
        visit = DeltaMethodTest(visits[cfg.control], visits[arm], freq_cfg).compute_result()
        pace = impressions_per_user_test(ratios[cfg.control], ratios[arm], cfg.alpha)
        if obs.horizon is not None:
            sizes = (obs.horizon_units.get(arm, 0), obs.horizon_units.get(cfg.control, 0))
        else:
            sizes = (units[arm], units[cfg.control])
        evidence = ArmEvidence(arm, *sizes, seq, cuped or fixed or user, bayes, unit=_unit_name(cfg))
        verdict = arm_verdict(evidence, cfg.decision_rule, cfg.planned_per_arm, cfg.loss_threshold)
        if pace.significant:
            flagged.append((arm, pace))
            verdict = _checked_against_visits(verdict, visit, pace)
        comparisons.append(Comparison(arm, z, user, seq, bayes, p_holm, verdict, visit, pace, fixed, cuped,
                                      cuped_summary))

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
    if obs.still_open:
        notes.append(f"{obs.still_open} impressions are still open (their user may yet click): counted as not "
                     f"clicked so far")
    if cfg.adaptive_routing:
        notes.append("adaptive (bandit) routing: the split drifts by design, so there is no sample-ratio check, "
                     "and pooled estimates may be biased by time trends")
    for arm, pace in flagged:
        notes.append(f"{arm} shows users {pace.challenger_mean:.2f} rows each against {pace.control_mean:.2f} for "
                     f"{cfg.control} (p = {pace.p_value:.2g}): impressions depend on the outcome (a click brings "
                     f"the user back to a new row), so impression CTR is biased; the share of visits with a "
                     f"click is not, and the verdict stands only where the two agree")
    for c in comparisons:
        if c.cuped_summary is not None and not c.cuped_summary.errors:
            notes.append(f"CUPED ({c.arm}): the covariate (known for {c.cuped_summary.coverage:.0%} of users) cuts "
                         f"the variance by {c.cuped_summary.variance_reduction:.0%}; it is the fixed-horizon test "
                         f"of record")
    deff = max((u.design_effect for u in user_level), default=1.0)
    if deff > 1.1:
        notes.append(f"users see several impressions: design effect up to {deff:.2f}, so impression-level "
                     f"tests overstate precision; the verdict uses user-level variances")
    return AnalysisResult(control=cfg.control, alpha=cfg.alpha, arms=summaries, user_level=user_level, srm=srm,
                          chi_square=chi, comparisons=tuple(comparisons), verdict=verdict, timeline=obs.timeline,
                          notes=tuple(notes), errors=tuple(errors), still_open=obs.still_open)


def impressions_per_user_test(control: RatioStatistic, challenger: RatioStatistic, alpha: float) -> ComparisonResult:
    """Two-sided z-test of the mean impressions per user of two arms (Welch standard error)."""
    name = "impressions per user z-test"
    if control.n <= 1 or challenger.n <= 1:
        return ComparisonResult(test=name, control_mean=control.d_mean, challenger_mean=challenger.d_mean,
                                errors=(NO_DATA,))
    var_a, var_b = control.d_variance / control.n, challenger.d_variance / challenger.n
    return z_comparison(name, control.d_mean, var_a, challenger.d_mean, var_b, math.sqrt(var_a + var_b),
                        FrequentistConfig(alpha, "two-sided"))


def _checked_against_visits(verdict: Verdict, visit: ComparisonResult, pace: ComparisonResult) -> Verdict:
    """Impressions per user differ: a ship or harm on impression CTR stands only if visits agree."""
    direction = 1 if verdict.decision == SHIP else -1 if verdict.decision == HARM else 0
    if direction == 0 or visit.errors or direction * visit.difference > 0:
        return verdict
    return Verdict(INCONCLUSIVE, "outcome-dependent impressions check",
                   f"impression CTR says {verdict.decision}, but the arms show users different numbers of rows "
                   f"({pace.control_mean:.2f} vs {pace.challenger_mean:.2f} per user) and the share of visits "
                   f"with a click moves the other way ({100 * visit.difference:+.2f} pp): {verdict.reason}", verdict.arm)


def _unit_name(cfg: AnalysisConfig) -> str:
    return "users" if cfg.randomisation_unit == "user" else "impressions"


def arm_order(seen: list[str], cfg: AnalysisConfig) -> list[str]:
    """Control first, then the configured arms, then any other arm seen (sorted)."""
    configured = list(cfg.expected_split or {})
    arms = [cfg.control] + [a for a in configured + sorted(seen) if a != cfg.control]
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


def _user_summary(arm: str, stat: RatioStatistic, visits: RatioStatistic) -> UserLevelSummary:
    return UserLevelSummary(arm=arm, users=stat.n, impressions_per_user=stat.d_mean, ctr=stat.mean,
                            standard_error=float(np.sqrt(variance_of_ratio(stat))),
                            design_effect=design_effect(stat), visits=int(round(visits.d_sum)),
                            visit_ctr=visits.mean)


def _with_alpha(result: ComparisonResult, p_adjusted: float, alpha: float) -> ComparisonResult:
    return replace(result, significant=p_adjusted < alpha)


def _finite(value):
    """Replace +-inf (one-sided interval ends) by None so the dict is strict JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
