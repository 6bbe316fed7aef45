"""Analysis of an interleaving experiment: which ranker do users prefer?

Every interleaved impression shows items drafted by two teams (control and challenger); a click
credits the team of the clicked item (:mod:`funflix.serving.team_draft`). Per user, the
challenger's wins (impressions where its team got more clicks), losses and ties add up to a
preference: the user prefers the challenger when wins > losses, the control when losses > wins,
and is tied otherwise; users who never clicked carry no preference. The unit is the user.

Two readings of the share of users preferring the challenger, both reported:

- ties excluded: ``p = prefer_challenger / (prefer_challenger + prefer_control)``, an exact
  binomial (sign) test of ``p = 1/2`` with a Wilson interval;
- ties split: each tied user counts half to each side; a z-test of the mean score against 1/2.

The always-valid test is the mSPRT with a normal mixture (:mod:`.sequential`) on ``p - 1/2``
with its null variance ``1/(4 n)`` at each look, so the page may be watched continuously.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import binomtest, norm

from .constants import DEFAULT_CHALLENGER, DEFAULT_CONTROL, NO_DATA, USER_ID
from .intervals import wilson_interval, z_critical
from .sequential import SequentialConfig, SequentialResult, sequential_test
from .verdict import HARM, INCONCLUSIVE, KEEP_RUNNING, SHIP

__all__ = ["InterleavingConfig", "InterleavingResult", "PreferenceCounts", "analyze_interleaving",
           "impression_outcomes", "plan_users", "user_preferences"]

CHALLENGER_CLICKS, CONTROL_CLICKS = "challenger_clicks", "control_clicks"
WINS, LOSSES, TIES, NO_CLICKS = "wins", "losses", "ties", "no_clicks"
MAX_LOOKS = 200


@dataclass(frozen=True)
class InterleavingConfig:
    """``mixture_sd`` is the mSPRT prior scale of ``p - 1/2`` (0.05: a 55/45 preference)."""

    alpha: float = 0.05
    power: float = 0.9
    mixture_sd: float = 0.05
    decision: Literal["sequential", "fixed"] = "sequential"
    planned_users: int | None = None
    control: str = DEFAULT_CONTROL
    challenger: str = DEFAULT_CHALLENGER

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0 or not 0.0 < self.power < 1.0:
            raise ValueError("alpha and power must be in (0, 1)")
        if self.decision not in ("sequential", "fixed"):
            raise ValueError(f"decision must be 'sequential' or 'fixed', got {self.decision!r}")
        if self.decision == "fixed" and not self.planned_users:
            raise ValueError("the fixed-horizon decision needs planned_users")


@dataclass(frozen=True)
class PreferenceCounts:
    """Users by preference: challenger, control, tied (clicked both equally), no click at all."""

    prefer_challenger: int
    prefer_control: int
    ties: int
    no_click: int

    @property
    def decisive(self) -> int:
        return self.prefer_challenger + self.prefer_control

    @property
    def users(self) -> int:
        return self.decisive + self.ties + self.no_click


@dataclass(frozen=True)
class ShareResult:
    """A share of users preferring the challenger, its interval and the two-sided p-value against 1/2."""

    test: str
    share: float = 0.5
    ci: tuple[float, float] = (0.0, 1.0)
    p_value: float = 1.0
    n: int = 0


@dataclass(frozen=True)
class InterleavingResult:
    """The whole analysis; ``verdict`` is ship / keep running / stop: harm / inconclusive."""

    impressions: int
    clicked_impressions: int
    outcomes: dict[str, int]                 # challenger's wins, losses, ties, no_clicks over impressions
    team_clicks: dict[str, int]
    users: PreferenceCounts
    ties_excluded: ShareResult
    ties_split: ShareResult
    sequential: SequentialResult
    planned_users: int | None
    verdict: str
    rests_on: str
    reason: str
    path: dict = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def impression_outcomes(frame: pd.DataFrame, control: str = DEFAULT_CONTROL,
                        challenger: str = DEFAULT_CHALLENGER) -> pd.DataFrame:
    """Per impression (``user_id``, ``created_at``, ``items``, ``teams``, ``clicked_item``): each team's clicks."""
    def clicks(row, team):
        if pd.isna(row.clicked_item) or int(row.clicked_item) not in row.items:
            return 0
        return int(row.teams[list(row.items).index(int(row.clicked_item))] == team)

    unknown = {t for teams in frame["teams"] for t in teams} - {control, challenger}
    if unknown:
        raise ValueError(f"teams {sorted(unknown)} are neither the control {control!r} nor the challenger {challenger!r}")
    out = frame[[USER_ID, "created_at"]].copy()
    out[CHALLENGER_CLICKS] = [clicks(r, challenger) for r in frame.itertuples()]
    out[CONTROL_CLICKS] = [clicks(r, control) for r in frame.itertuples()]
    return out.sort_values("created_at", kind="stable").reset_index(drop=True)


def user_preferences(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per user: the challenger's ``wins``, ``losses``, ``ties`` and ``no_clicks`` over their impressions."""
    c, b = outcomes[CHALLENGER_CLICKS], outcomes[CONTROL_CLICKS]
    flags = pd.DataFrame({USER_ID: outcomes[USER_ID], WINS: c > b, LOSSES: b > c,
                          TIES: (c == b) & (c > 0), NO_CLICKS: (c == 0) & (b == 0)})
    return flags.groupby(USER_ID).sum().astype("int64")


def preference_counts(users: pd.DataFrame) -> PreferenceCounts:
    clicked = users[WINS] + users[LOSSES] + users[TIES] > 0
    return PreferenceCounts(prefer_challenger=int((users[WINS] > users[LOSSES]).sum()),
                            prefer_control=int((users[LOSSES] > users[WINS]).sum()),
                            ties=int((clicked & (users[WINS] == users[LOSSES])).sum()),
                            no_click=int((~clicked).sum()))


def ties_excluded_test(counts: PreferenceCounts, alpha: float = 0.05) -> ShareResult:
    """Exact sign test of ``p = 1/2`` over decisive users, with the Wilson interval."""
    n = counts.decisive
    if n == 0:
        return ShareResult("sign test (ties excluded)")
    return ShareResult("sign test (ties excluded)", counts.prefer_challenger / n,
                       wilson_interval(counts.prefer_challenger, n, alpha),
                       float(binomtest(counts.prefer_challenger, n, 0.5).pvalue), n)


def ties_split_test(counts: PreferenceCounts, alpha: float = 0.05) -> ShareResult:
    """z-test of the mean user score (1 challenger, 1/2 tie, 0 control) against 1/2."""
    n = counts.decisive + counts.ties
    if n < 2:
        return ShareResult("z-test (ties split)", n=n)
    mean = (counts.prefer_challenger + 0.5 * counts.ties) / n
    second = (counts.prefer_challenger + 0.25 * counts.ties) / n
    variance = max(second - mean * mean, 0.0) * n / (n - 1)
    if variance == 0.0:
        return ShareResult("z-test (ties split)", mean, (mean, mean), 1.0 if mean == 0.5 else 0.0, n)
    se = math.sqrt(variance / n)
    z = z_critical(alpha, 2)
    return ShareResult("z-test (ties split)", mean, (max(0.0, mean - z * se), min(1.0, mean + z * se)),
                       float(2 * norm.sf(abs(mean - 0.5) / se)), n)


def sequential_preference(outcomes: pd.DataFrame, config: InterleavingConfig) -> tuple[SequentialResult, dict]:
    """The mSPRT on ``p - 1/2`` (ties excluded) at up to ``MAX_LOOKS`` looks over the impressions."""
    n = len(outcomes)
    looks = np.unique(np.linspace(1, n, min(n, MAX_LOOKS)).round().astype(int)) if n else np.array([], int)
    diffs, variances, decisive = [], [], []
    for look in looks:
        counts = preference_counts(user_preferences(outcomes.iloc[:look]))
        m = counts.decisive
        diffs.append(counts.prefer_challenger / m - 0.5 if m else 0.0)
        variances.append(0.25 / m if m else 0.0)
        decisive.append(m)
    result, path = sequential_test(looks, diffs, variances, SequentialConfig(config.alpha, config.mixture_sd))
    ci = (max(result.ci[0], -0.5), min(result.ci[1], 0.5))  # a share lies in [0, 1]
    return replace(result, ci=ci), {**asdict(path), "decisive_users": decisive}


def plan_users(share: float, decisive_fraction: float = 1.0, alpha: float = 0.05, power: float = 0.9) -> int:
    """Users for the sign test to detect a preference ``share`` (two-sided ``alpha``, normal approximation),
    divided by the fraction of users who show a preference (the rest tie or never click)."""
    if not 0.0 < share < 1.0 or share == 0.5:
        raise ValueError(f"share must be in (0, 1) and not 1/2, got {share}")
    if not 0.0 < decisive_fraction <= 1.0:
        raise ValueError(f"decisive_fraction must be in (0, 1], got {decisive_fraction}")
    za, zb = z_critical(alpha, 2), float(norm.ppf(power))
    n = ((za * 0.5 + zb * math.sqrt(share * (1 - share))) / (share - 0.5)) ** 2
    return int(math.ceil(n / decisive_fraction))


def _verdict(config: InterleavingConfig, counts: PreferenceCounts, excluded: ShareResult,
             sequential: SequentialResult) -> tuple[str, str, str]:
    who = config.challenger
    if config.decision == "fixed":
        rests_on = excluded.test
        if counts.users < int(config.planned_users):
            return KEEP_RUNNING, rests_on, f"{counts.users} of the planned {config.planned_users} users so far"
        if excluded.p_value <= config.alpha:
            ship = excluded.share > 0.5
            return (SHIP if ship else HARM), rests_on, (
                f"{100 * excluded.share:.1f}% of decisive users prefer {who} "
                f"[{100 * excluded.ci[0]:.1f}%, {100 * excluded.ci[1]:.1f}%], p = {excluded.p_value:.4f}")
        return INCONCLUSIVE, rests_on, f"no preference at the planned size (p = {excluded.p_value:.3f})"
    rests_on = sequential.test
    low, high = 0.5 + sequential.ci[0], 0.5 + sequential.ci[1]
    interval = f"always-valid interval for the share preferring {who} [{100 * low:.1f}%, {100 * high:.1f}%]"
    if sequential.significant:
        return (SHIP if sequential.difference > 0 else HARM), rests_on, f"{interval} excludes 50% " \
               f"(decided at {sequential.decided_at} impressions)"
    if config.planned_users and counts.users >= config.planned_users:
        return INCONCLUSIVE, rests_on, f"{interval} still holds 50% at the planned {config.planned_users} users"
    return KEEP_RUNNING, rests_on, f"{interval} holds 50%"


def analyze_interleaving(frame: pd.DataFrame, config: InterleavingConfig | None = None) -> InterleavingResult:
    """Analyse interleaved impressions (columns of ``funflix.website.store.read_interleaved``)."""
    cfg = config or InterleavingConfig()
    outcomes = impression_outcomes(frame, cfg.control, cfg.challenger)
    users = user_preferences(outcomes)
    counts = preference_counts(users)
    excluded, split = ties_excluded_test(counts, cfg.alpha), ties_split_test(counts, cfg.alpha)
    sequential, path = sequential_preference(outcomes, cfg)
    c, b = outcomes[CHALLENGER_CLICKS], outcomes[CONTROL_CLICKS]
    per_impression = {WINS: int((c > b).sum()), LOSSES: int((b > c).sum()), TIES: int(((c == b) & (c > 0)).sum()),
                      NO_CLICKS: int(((c == 0) & (b == 0)).sum())}
    planned = cfg.planned_users
    if planned is None and counts.decisive >= 20 and excluded.share != 0.5 and 0 < excluded.share < 1:
        planned = plan_users(excluded.share, counts.decisive / counts.users, cfg.alpha, cfg.power)
    decision, rests_on, reason = _verdict(cfg, counts, excluded, sequential)
    return InterleavingResult(
        impressions=len(outcomes), clicked_impressions=int(((c + b) > 0).sum()), outcomes=per_impression,
        team_clicks={cfg.control: int(b.sum()), cfg.challenger: int(c.sum())}, users=counts,
        ties_excluded=excluded, ties_split=split, sequential=sequential, planned_users=planned,
        verdict=decision, rests_on=rests_on, reason=reason, path=path,
        errors=() if len(outcomes) else (NO_DATA,))
