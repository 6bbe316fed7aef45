"""Offline experiments on the simulated population: A/B and team-draft interleaving, vectorised.

For every simulated user and ranker, the list the user is shown is the ranker's real top-k. The
click model (:mod:`.click_model`) gives the exact chance of a click on each position. Under A/B a
user's visit is clicked with probability ``ctr[u]``; under interleaving the merged list depends on
the coins of the team draft, so each user's chance that the challenger's team gets the click
(``win[u]``) or the control's (``loss[u]``) is averaged exactly over every coin sequence (each has
probability ``2**-rounds``). Experiments then draw users (with replacement from the population)
and their visits (:class:`Visits`: the same number for everyone, or a heavy-tailed mix) from these
per-user probabilities: millions of simulated users per second. Clicks on items both lists hold
("shared") are tracked apart, to show how much of the preference they carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, lognorm, norm

from funflix.serving.team_draft import interleave
from funflix.simulation.click_model import ClickModel, click_distribution


class _Coins:
    """A coin source replaying ``bits``; asking for one more raises :class:`_MoreCoins`."""

    def __init__(self, bits: tuple[int, ...]):
        self.bits = bits
        self.used = 0

    def integers(self, _high: int) -> int:
        if self.used == len(self.bits):
            raise _MoreCoins()
        self.used += 1
        return self.bits[self.used - 1]


class _MoreCoins(Exception):
    pass


def coin_sequences(a: list[int], b: list[int], k: int):
    """Every team-draft merge of ``a`` and ``b`` with its probability: ``[(weight, Ranking)]``."""
    done, pending = [], [()]
    while pending:
        bits = pending.pop()
        try:
            ranking = interleave(a, b, _Coins(bits), k)
        except _MoreCoins:
            pending += [bits + (0,), bits + (1,)]
            continue
        done.append((0.5 ** len(bits), ranking))
    return done


@dataclass(frozen=True)
class Visits:
    """How many visits a user makes: ``counts`` with probabilities ``p``."""

    counts: np.ndarray
    p: np.ndarray

    @classmethod
    def equal(cls, visits: int) -> "Visits":
        if visits < 1:
            raise ValueError(f"visits must be >= 1, got {visits}")
        return cls(np.array([int(visits)]), np.array([1.0]))

    @classmethod
    def heavy_tailed(cls, mean: float, sigma: float = 1.2, cap: int = 200) -> "Visits":
        """``ceil`` of a log-normal (shape ``sigma``) capped at ``cap``, scaled to a mean of ``mean`` visits:
        most users come once or twice, a few come very often (real engagement)."""
        counts = np.arange(1, cap + 1)

        def pmf(scale: float) -> np.ndarray:
            cdf = lognorm.cdf(counts, sigma, scale=scale)
            p = np.diff(np.concatenate([[0.0], cdf]))
            p[-1] += 1 - cdf[-1]
            return p

        low, high = 1e-3, float(cap)
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if pmf(middle) @ counts < mean else (low, middle)
        return cls(counts, pmf(low))

    @property
    def mean(self) -> float:
        return float(self.p @ self.counts)

    @property
    def second_moment(self) -> float:
        return float(self.p @ self.counts.astype(float) ** 2)

    def draw(self, shape, rng: np.random.Generator) -> np.ndarray:
        if len(self.counts) == 1:
            return np.full(shape, self.counts[0])
        return rng.choice(self.counts, size=shape, p=self.p)

    def label(self) -> str:
        return f"{self.counts[0]}" if len(self.counts) == 1 else f"heavy-tailed, mean {self.mean:.1f}"


def as_visits(visits: "int | Visits") -> Visits:
    return visits if isinstance(visits, Visits) else Visits.equal(int(visits))


@dataclass(frozen=True)
class PairOutcomes:
    """Per user of the population: A/B click chance of each ranker, interleaving win/loss chance of ``b``
    (and the part of each that comes from clicks on items both lists hold, and how many they share)."""

    ctr_a: np.ndarray
    ctr_b: np.ndarray
    win: np.ndarray      # the click goes to b's team
    loss: np.ndarray     # the click goes to a's team
    win_shared: np.ndarray | None = None
    loss_shared: np.ndarray | None = None
    shared: np.ndarray | None = None  # items both top-k lists hold

    @property
    def preference(self) -> float:
        """Population share of clicks that go to b's team (the interleaving effect)."""
        return float(self.win.sum() / (self.win.sum() + self.loss.sum()))

    @property
    def lift(self) -> float:
        return float(self.ctr_b.mean() / self.ctr_a.mean() - 1)

    def shared_breakdown(self) -> dict:
        """Share of clicks on shared items, b's share of those, and b's share of the clicks on the rest."""
        shared = self.win_shared.sum() + self.loss_shared.sum()
        unique_b, unique_a = self.win.sum() - self.win_shared.sum(), self.loss.sum() - self.loss_shared.sum()
        return {"shared_items": float(self.shared.mean()),
                "clicks_on_shared": float(shared / (self.win.sum() + self.loss.sum())),
                "b_share_of_shared": float(self.win_shared.sum() / shared) if shared else None,
                "b_share_of_unique": float(unique_b / (unique_a + unique_b))}


def pair_outcomes(model: ClickModel, lists_a: dict[int, list[int]], lists_b: dict[int, list[int]],
                  k: int = 10) -> PairOutcomes:
    """Exact per-user A/B and interleaving probabilities for rankers a and b (lists keyed by user)."""
    users = sorted(lists_a)
    ctr = [np.array([model.expected_ctr(u, lists[u]) for u in users]) for lists in (lists_a, lists_b)]
    win, loss, win_shared, loss_shared, shared = (np.zeros(len(users)) for _ in range(5))
    for row, user in enumerate(users):
        merges = coin_sequences(lists_a[user], lists_b[user], k)
        items = sorted({i for _, r in merges for i in r.items})
        both = set(lists_a[user]) & set(lists_b[user])
        score = dict(zip(items, model.liking_scores(user, items)))
        z = np.array([[score[i] for i in r.items] for _, r in merges])
        clicks = click_distribution(z, model.intercept, model.patience)
        teams = np.array([r.teams for _, r in merges])
        on_shared = np.array([[i in both for i in r.items] for _, r in merges])
        weights = np.array([w for w, _ in merges])
        win[row] = weights @ (clicks * (teams == 1)).sum(axis=1)
        loss[row] = weights @ (clicks * (teams == 0)).sum(axis=1)
        win_shared[row] = weights @ (clicks * (teams == 1) * on_shared).sum(axis=1)
        loss_shared[row] = weights @ (clicks * (teams == 0) * on_shared).sum(axis=1)
        shared[row] = len(both)
    return PairOutcomes(ctr[0], ctr[1], win, loss, win_shared, loss_shared, shared)


def preference_probabilities(pair: PairOutcomes, visits: "int | Visits") -> tuple[np.ndarray, np.ndarray]:
    """Exact per-user chances, over their visits, of preferring b (more b clicks) and a."""
    visits = as_visits(visits)
    prefer_b, prefer_a = np.zeros(len(pair.win)), np.zeros(len(pair.win))
    rest = np.where(pair.win < 1, pair.loss / np.maximum(1 - pair.win, 1e-300), 0.0).clip(0, 1)
    for count, weight in zip(visits.counts, visits.p):
        if weight < 1e-12:
            continue
        for w in range(count + 1):
            p_w = binom.pmf(w, count, pair.win)
            below = binom.cdf(w - 1, count - w, rest) if w > 0 else 0.0  # losses < w
            above = binom.sf(w, count - w, rest)  # losses > w
            prefer_b += weight * p_w * below
            prefer_a += weight * p_w * above
    return prefer_b, prefer_a


def ab_significant(pair: PairOutcomes, users: int, visits: "int | Visits", reps: int, rng: np.random.Generator,
                   alpha: float = 0.05) -> np.ndarray:
    """Per replication: +1 / -1 when the user-level CTR test (two-sided) finds b better / worse, else 0.

    ``users`` are split evenly; each makes its visits to its arm. Each arm's CTR is clicks over
    impressions with the delta-method variance at the user (the randomisation unit), as the verdict's
    user-level test computes it.
    """
    visits = as_visits(visits)
    half = users // 2
    ratios, variances = [], []
    for ctr in (pair.ctr_a, pair.ctr_b):
        picked = ctr[rng.integers(len(ctr), size=(reps, half))]
        shown = visits.draw((reps, half), rng)
        clicks = rng.binomial(shown, picked)
        ratio = clicks.sum(axis=1) / shown.sum(axis=1)
        residual = clicks - ratio[:, None] * shown
        variances.append(residual.var(axis=1, ddof=1) / (half * shown.mean(axis=1) ** 2))
        ratios.append(ratio)
    se = np.sqrt(variances[0] + variances[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (ratios[1] - ratios[0]) / se, 0.0)
    return np.sign(z) * (np.abs(z) > norm.ppf(1 - alpha / 2))


def user_preferences(pair: PairOutcomes, users: int, visits: "int | Visits", reps: int, rng: np.random.Generator):
    """``(prefer_b, prefer_a)`` counts per replication: users whose visits gave b's team more clicks, or a's."""
    picked = rng.integers(len(pair.win), size=(reps, users))
    win, loss = pair.win[picked], pair.loss[picked]
    shown = as_visits(visits).draw((reps, users), rng)
    wins = rng.binomial(shown, win)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(win < 1, loss / (1 - win), 0.0)
    losses = rng.binomial(shown - wins, np.clip(rest, 0, 1))
    return (wins > losses).sum(axis=1), (losses > wins).sum(axis=1)


def interleaving_significant(pair: PairOutcomes, users: int, visits: "int | Visits", reps: int,
                             rng: np.random.Generator, alpha: float = 0.05) -> np.ndarray:
    """Per replication: +1 / -1 when the exact sign test over decisive users (ties excluded) prefers b / a."""
    prefer_b, prefer_a = user_preferences(pair, users, visits, reps, rng)
    n = prefer_b + prefer_a
    low = binom.cdf(np.minimum(prefer_b, prefer_a), n, 0.5)
    p = np.minimum(1.0, 2 * low)
    return np.sign(prefer_b - prefer_a) * (p <= alpha)
