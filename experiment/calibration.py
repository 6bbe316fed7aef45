"""Simulated experiments that check the tests' error rates under repeated peeking.

Vectorised over replications. :func:`peeking_study`: impressions randomised 50/50 (one per
user); the naive two-sided z-test and the mSPRT are evaluated at every peek on the same data
and the first peek at which each rejects is kept. :func:`clustered_peeking_study`: users with
many impressions each, where only the user-level variance keeps the mSPRT valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .intervals import z_critical
from .sequential import msprt_log_likelihood_ratio
from .user_level import ratio_variance


@dataclass(frozen=True)
class PeekingStudy:
    """First rejecting peek per replication (-1: never), for each test; ``looks`` are impression counts.
    ``final_naive``: the z-test read once, at the last look only (the fixed-horizon test)."""

    looks: np.ndarray
    first_sequential: np.ndarray
    first_naive: np.ndarray
    final_naive: np.ndarray

    def rejection_rate(self, test: str, peeks: int | None = None) -> float:
        """Share of replications rejected within the first ``peeks`` looks (all by default)."""
        first = self.first_sequential if test == "sequential" else self.first_naive
        limit = len(self.looks) if peeks is None else peeks
        return float(np.mean((first >= 0) & (first < limit)))

    def rejection_curve(self, test: str) -> np.ndarray:
        """Rejection rate after each look (cumulative)."""
        first = self.first_sequential if test == "sequential" else self.first_naive
        counts = np.bincount(first[first >= 0], minlength=len(self.looks))[: len(self.looks)]
        return np.cumsum(counts) / len(first)


def peeking_study(rng: np.random.Generator, replications: int, impressions: int, peek_every: int,
                  ctr_control: float, ctr_challenger: float, mixture_sd: float = 0.03, alpha: float = 0.05,
                  chunk: int = 500) -> PeekingStudy:
    """Simulate ``replications`` experiments and peek every ``peek_every`` impressions.

    The mSPRT uses the analysis's own variance function (delta method at the user level),
    the naive test the pooled two-proportion z statistic at ``alpha`` two-sided.
    """
    looks = np.arange(peek_every, impressions + 1, peek_every)
    firsts_seq, firsts_naive, finals = [], [], []
    z_crit, threshold = z_critical(alpha, 2), np.log(1.0 / alpha)
    chunk = max(1, min(chunk, 10_000_000 // impressions))  # bound memory: ~10 million draws at a time
    for start in range(0, replications, chunk):
        size = min(chunk, replications - start)
        arm = rng.random((size, impressions)) < 0.5
        click = rng.random((size, impressions)) < np.where(arm, ctr_challenger, ctr_control)
        index = looks - 1
        n_b = np.cumsum(arm, axis=1)[:, index].astype(float)
        n_a = looks - n_b
        x_b = np.cumsum(arm & click, axis=1)[:, index].astype(float)
        x_a = np.cumsum(~arm & click, axis=1)[:, index].astype(float)
        # one impression per user: clicks are 0/1, so sum x^2 = sum x*y = clicks and sum y^2 = n
        variance = ratio_variance(n_a, x_a, x_a, n_a, n_a, x_a) + ratio_variance(n_b, x_b, x_b, n_b, n_b, x_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where((n_a > 0) & (n_b > 0), x_b / n_b - x_a / n_a, 0.0)
            pooled = (x_a + x_b) / (n_a + n_b)
            null_se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
            z = np.where(null_se > 0, d / null_se, 0.0)
        sequential = msprt_log_likelihood_ratio(d, variance, mixture_sd) >= threshold
        naive = np.abs(z) >= z_crit
        firsts_seq.append(np.where(sequential.any(axis=1), sequential.argmax(axis=1), -1))
        firsts_naive.append(np.where(naive.any(axis=1), naive.argmax(axis=1), -1))
        finals.append(naive[:, -1])
    return PeekingStudy(looks=looks, first_sequential=np.concatenate(firsts_seq),
                        first_naive=np.concatenate(firsts_naive), final_naive=np.concatenate(finals))


@dataclass(frozen=True)
class ClusteredStudy:
    """A/A with users who each bring several impressions: the mSPRT's false-positive rate with the
    user-level (delta-method) variance and with the impression-level (binomial) variance."""

    replications: int
    mean_design_effect: float
    user_level_rate: float
    impression_level_rate: float


def clustered_peeking_study(rng: np.random.Generator, replications: int, users: int, peek_every: int,
                            ctr: float, mean_impressions: float = 10.0, heterogeneity: float = 1.0,
                            mixture_sd: float = 0.03, alpha: float = 0.05) -> ClusteredStudy:
    """Users arrive one after another, each with 1 + Poisson(mean - 1) impressions and a
    gamma-distributed click propensity (shape ``heterogeneity``); peek every ``peek_every`` users."""
    shape = (replications, users)
    y = 1.0 + rng.poisson(mean_impressions - 1.0, shape)
    p = np.clip(ctr * rng.gamma(heterogeneity, 1.0 / heterogeneity, shape), 0.0, 1.0)
    x = rng.binomial(y.astype(np.int64), p).astype(float)
    challenger = rng.random(shape) < 0.5
    index = np.arange(peek_every, users + 1, peek_every) - 1
    deff = []
    var_user, var_binomial, diff = 0.0, 0.0, 0.0
    for sign, mask in ((1.0, challenger), (-1.0, ~challenger)):
        sums = [np.cumsum(np.where(mask, v, 0.0), axis=1)[:, index]
                for v in (np.ones(shape), x, x * x, y, y * y, x * y)]
        n, m, mm, d, dd, md = sums
        ratio = np.divide(m, d, out=np.zeros_like(m), where=d > 0)
        v_user = ratio_variance(n, m, mm, d, dd, md)
        v_binomial = np.divide(ratio * (1 - ratio), d, out=np.zeros_like(m), where=d > 0)
        var_user, var_binomial, diff = var_user + v_user, var_binomial + v_binomial, diff + sign * ratio
        deff.append(np.divide(v_user[:, -1], v_binomial[:, -1], out=np.ones(replications),
                              where=v_binomial[:, -1] > 0))
    threshold = np.log(1.0 / alpha)
    user_level = (msprt_log_likelihood_ratio(diff, var_user, mixture_sd) >= threshold).any(axis=1)
    impression_level = (msprt_log_likelihood_ratio(diff, var_binomial, mixture_sd) >= threshold).any(axis=1)
    return ClusteredStudy(replications=replications, mean_design_effect=float(np.mean(deff)),
                          user_level_rate=float(user_level.mean()),
                          impression_level_rate=float(impression_level.mean()))
