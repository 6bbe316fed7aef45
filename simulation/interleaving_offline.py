"""Offline experiments on the simulated population: A/B and team-draft interleaving, vectorised.

For every simulated user and ranker, the list the user is shown is the ranker's real top-k. The
click model (:mod:`.click_model`) gives the exact chance of a click on each position. Under A/B a
user's visit is clicked with probability ``ctr[u]``; under interleaving the merged list depends on
the coins of the team draft, so each user's chance that the challenger's team gets the click
(``win[u]``) or the control's (``loss[u]``) is averaged exactly over every coin sequence (each has
probability ``2**-rounds``). Experiments then draw users (with replacement from the population)
and their visits from these per-user probabilities: millions of simulated users per second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, norm

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
class PairOutcomes:
    """Per user of the population: A/B click chance of each ranker, interleaving win/loss chance of ``b``."""

    ctr_a: np.ndarray
    ctr_b: np.ndarray
    win: np.ndarray      # the click goes to b's team
    loss: np.ndarray     # the click goes to a's team

    @property
    def preference(self) -> float:
        """Population share of clicks that go to b's team (the interleaving effect)."""
        return float(self.win.sum() / (self.win.sum() + self.loss.sum()))

    @property
    def lift(self) -> float:
        return float(self.ctr_b.mean() / self.ctr_a.mean() - 1)


def pair_outcomes(model: ClickModel, lists_a: dict[int, list[int]], lists_b: dict[int, list[int]],
                  k: int = 10) -> PairOutcomes:
    """Exact per-user A/B and interleaving probabilities for rankers a and b (lists keyed by user)."""
    users = sorted(lists_a)
    ctr = [np.array([model.expected_ctr(u, lists[u]) for u in users]) for lists in (lists_a, lists_b)]
    win, loss = np.zeros(len(users)), np.zeros(len(users))
    for row, user in enumerate(users):
        merges = coin_sequences(lists_a[user], lists_b[user], k)
        items = sorted({i for _, r in merges for i in r.items})
        score = dict(zip(items, model.liking_scores(user, items)))
        z = np.array([[score[i] for i in r.items] for _, r in merges])
        clicks = click_distribution(z, model.intercept, model.patience)
        teams = np.array([r.teams for _, r in merges])
        weights = np.array([w for w, _ in merges])
        win[row] = weights @ (clicks * (teams == 1)).sum(axis=1)
        loss[row] = weights @ (clicks * (teams == 0)).sum(axis=1)
    return PairOutcomes(ctr[0], ctr[1], win, loss)


def preference_probabilities(pair: PairOutcomes, visits: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-user chances, over ``visits`` visits, of preferring b (more b clicks) and a."""
    wins = np.arange(visits + 1)
    prefer_b, prefer_a = np.zeros(len(pair.win)), np.zeros(len(pair.win))
    rest = np.where(pair.win < 1, pair.loss / np.maximum(1 - pair.win, 1e-300), 0.0).clip(0, 1)
    for w in wins:
        p_w = binom.pmf(w, visits, pair.win)
        below = binom.cdf(w - 1, visits - w, rest) if w > 0 else 0.0  # losses < w
        above = binom.sf(w, visits - w, rest)  # losses > w
        prefer_b += p_w * below
        prefer_a += p_w * above
    return prefer_b, prefer_a


def ab_significant(pair: PairOutcomes, users: int, visits: int, reps: int, rng: np.random.Generator,
                   alpha: float = 0.05) -> np.ndarray:
    """Per replication: +1 / -1 when the user-level CTR test (two-sided) finds b better / worse, else 0.

    ``users`` are split evenly; each user makes ``visits`` visits to their arm (user-level means,
    the randomisation unit, as the verdict's delta-method test uses them).
    """
    half = users // 2
    means = []
    for ctr in (pair.ctr_a, pair.ctr_b):
        picked = ctr[rng.integers(len(ctr), size=(reps, half))]
        means.append(rng.binomial(visits, picked) / visits)
    diff = means[1].mean(axis=1) - means[0].mean(axis=1)
    se = np.sqrt((means[0].var(axis=1, ddof=1) + means[1].var(axis=1, ddof=1)) / half)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, diff / se, 0.0)
    return np.sign(z) * (np.abs(z) > norm.ppf(1 - alpha / 2))


def user_preferences(pair: PairOutcomes, users: int, visits: int, reps: int, rng: np.random.Generator):
    """``(prefer_b, prefer_a)`` counts per replication: users whose visits gave b's team more clicks, or a's."""
    picked = rng.integers(len(pair.win), size=(reps, users))
    win, loss = pair.win[picked], pair.loss[picked]
    wins = rng.binomial(visits, win)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(win < 1, loss / (1 - win), 0.0)
    losses = rng.binomial(visits - wins, np.clip(rest, 0, 1))
    return (wins > losses).sum(axis=1), (losses > wins).sum(axis=1)


def interleaving_significant(pair: PairOutcomes, users: int, visits: int, reps: int, rng: np.random.Generator,
                             alpha: float = 0.05) -> np.ndarray:
    """Per replication: +1 / -1 when the exact sign test over decisive users (ties excluded) prefers b / a."""
    prefer_b, prefer_a = user_preferences(pair, users, visits, reps, rng)
    n = prefer_b + prefer_a
    low = binom.cdf(np.minimum(prefer_b, prefer_a), n, 0.5)
    p = np.minimum(1.0, 2 * low)
    return np.sign(prefer_b - prefer_a) * (p <= alpha)
