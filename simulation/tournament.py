"""The two-stage flow on simulated users: interleave many candidates against production, drop the
weak ones as soon as the always-valid test allows, then A/B-test the best for click-through rate.

Stage 1 is pairwise team-draft interleaving of each candidate against production (the same
two-team design the serving combiner runs, so each verdict means what a live one means; with m
candidates each always-valid test runs at alpha/m, so the chance that any weak candidate survives
by luck stays below alpha). Users arrive in batches; after each batch every candidate still in play
is read: dropped when its always-valid interval says production is preferred (or, at the budget,
when it never showed a preference), kept as a finalist when the challenger is preferred. The best
finalist (highest lower bound of its preference share) goes to stage 2: a user-level A/B test of
CTR with the always-valid mSPRT, the business decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from funflix.experiment.sequential import confidence_sequence_half_width, msprt_log_likelihood_ratio
from funflix.simulation.interleaving_offline import PairOutcomes

PREFERENCE_MIXTURE_SD = 0.05
CTR_MIXTURE_SD = 0.03


@dataclass
class Candidate:
    """One candidate's running interleaving test against production."""

    name: str
    prefer_candidate: int = 0
    prefer_production: int = 0
    users: int = 0
    status: str = "running"  # running, finalist, dropped: worse, dropped: no preference
    decided_after: int | None = None
    interval: tuple[float, float] = (0.0, 1.0)

    def update(self, b: int, a: int, users: int, alpha: float) -> None:
        self.prefer_candidate += b
        self.prefer_production += a
        self.users += users
        m = self.prefer_candidate + self.prefer_production
        if m == 0:
            return
        d, v = self.prefer_candidate / m - 0.5, 0.25 / m
        half = float(confidence_sequence_half_width(v, PREFERENCE_MIXTURE_SD, alpha))
        self.interval = (max(0.0, max(self.interval[0], 0.5 + d - half)), min(1.0, min(self.interval[1], 0.5 + d + half)))
        if float(msprt_log_likelihood_ratio(d, v, PREFERENCE_MIXTURE_SD)) >= np.log(1 / alpha):
            self.status = "finalist" if d > 0 else "dropped: worse"
            self.decided_after = self.users


def interleaving_stage(pairs: dict[str, PairOutcomes], production: str, batch: int, max_users: int, visits: int,
                       rng: np.random.Generator, alpha: float = 0.05, report=None) -> tuple[list[Candidate], list[dict]]:
    """Stage 1: ``pairs[name]`` holds each candidate (team b) against production (team a)."""
    from funflix.simulation.interleaving_offline import user_preferences

    candidates = [Candidate(name) for name in pairs]
    per_test_alpha = alpha / len(candidates)
    rounds = []
    while any(c.status == "running" for c in candidates):
        for c in candidates:
            if c.status == "running":
                b, a = user_preferences(pairs[c.name], batch, visits, 1, rng)
                c.update(int(b[0]), int(a[0]), batch, per_test_alpha)
                if c.status == "running" and c.users >= max_users:
                    c.status, c.decided_after = "dropped: no preference", c.users
        rounds.append({c.name: {"status": c.status, "users": c.users,
                                "share": c.prefer_candidate / max(1, c.prefer_candidate + c.prefer_production),
                                "interval": c.interval} for c in candidates})
        if report:
            report(rounds[-1])
    return candidates, rounds


def ab_stage(pair: PairOutcomes, batch: int, max_users: int, visits: int, rng: np.random.Generator,
             alpha: float = 0.05) -> dict:
    """Stage 2: user-level A/B test of CTR (production a, the best candidate b), always-valid mSPRT."""
    sums = np.zeros((2, 2))  # per arm: sum of user CTRs, sum of squares
    users = 0
    lower, upper = -1.0, 1.0
    while users < max_users:
        half = batch // 2
        for arm, ctr in enumerate((pair.ctr_a, pair.ctr_b)):
            y = rng.binomial(visits, ctr[rng.integers(len(ctr), size=half)]) / visits
            sums[arm] += (y.sum(), (y * y).sum())
        users += 2 * half
        n = users // 2
        means = sums[:, 0] / n
        variances = np.maximum(sums[:, 1] / n - means ** 2, 0) * n / (n - 1)
        d, v = means[1] - means[0], variances.sum() / n
        width = float(confidence_sequence_half_width(v, CTR_MIXTURE_SD, alpha))
        lower, upper = max(lower, d - width), min(upper, d + width)
        if float(msprt_log_likelihood_ratio(d, v, CTR_MIXTURE_SD)) >= np.log(1 / alpha):
            return {"decision": "ship" if d > 0 else "stop: harm", "users": users, "ctr": means.tolist(),
                    "difference_interval": (lower, upper)}
    return {"decision": "inconclusive", "users": users, "ctr": means.tolist(), "difference_interval": (lower, upper)}


def best_finalist(candidates: list[Candidate]) -> str | None:
    finalists = [c for c in candidates if c.status == "finalist"]
    return max(finalists, key=lambda c: c.interval[0]).name if finalists else None
