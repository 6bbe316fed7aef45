"""A/A experiments as the product reads them: sticky users with their own CTR and activity, the
sequential test read after every impression.

:func:`aa_false_positive_rates` simulates ``replications`` A/A experiments of ``users`` users each
(vectorised over replications). Every user gets an arm (50/50, for the whole experiment), a click
propensity and a number of impressions from a :class:`Population`; the impressions of all users
arrive interleaved in random order, and after every one of them the mSPRT is evaluated on the
user-level running sums exactly as :func:`funflix.experiment.analysis.analyze` does
(the running sums of :class:`funflix.experiment.replay.Replay`). A replication is a false positive
when the test rejects at any impression: that is when the verdict says ship or stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sequential import SequentialConfig, sequential_log_likelihood_ratio

#: bound on the impressions simulated at once (memory: ~40 arrays of this length)
CHUNK_IMPRESSIONS = 2_000_000


@dataclass(frozen=True)
class Population:
    """Who the users are.

    ``ctr`` is the mean click propensity; ``concentration`` (kappa) makes each user's propensity
    Beta(ctr * kappa, (1 - ctr) * kappa) (None: everyone has ``ctr``). ``activity`` is the number
    of impressions per user: ``one``; ``poisson`` (1 + Poisson(mean - 1)); ``heavy`` (a discrete
    Pareto with tail index 1.5: finite mean ``mean``, infinite variance), capped at ``max_impressions``.
    """

    name: str
    ctr: float = 0.07
    concentration: float | None = None
    activity: str = "one"
    mean_impressions: float = 1.0
    max_impressions: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 < self.ctr < 1.0:
            raise ValueError(f"ctr must be in (0, 1), got {self.ctr}")
        if self.concentration is not None and self.concentration <= 0.0:
            raise ValueError(f"concentration must be positive, got {self.concentration}")
        if self.activity not in ("one", "poisson", "heavy"):
            raise ValueError(f"activity must be one, poisson or heavy, got {self.activity!r}")
        if self.activity != "one" and self.mean_impressions <= 1.0:
            raise ValueError(f"mean_impressions must exceed 1 for {self.activity} activity")

    def propensities(self, rng: np.random.Generator, shape) -> np.ndarray:
        if self.concentration is None:
            return np.full(shape, self.ctr)
        return rng.beta(self.ctr * self.concentration, (1.0 - self.ctr) * self.concentration, shape)

    def impressions(self, rng: np.random.Generator, shape) -> np.ndarray:
        if self.activity == "one":
            return np.ones(shape, dtype=np.int64)
        if self.activity == "poisson":
            return 1 + rng.poisson(self.mean_impressions - 1.0, shape)
        # Lomax (Pareto II) with tail index 1.5 has mean 2 * scale; rounding up adds about 0.5
        scale = (self.mean_impressions - 0.5) / 2.0
        draws = np.ceil(scale * rng.pareto(1.5, shape)).astype(np.int64)
        return np.clip(draws, 1, self.max_impressions)


@dataclass(frozen=True)
class StudyCell:
    """One cell of the calibration table: false positives of each test configuration, on the same experiments."""

    population: str
    users: int
    replications: int
    mean_impressions: float
    false_positives: dict[str, int]

    def rate(self, config: str) -> float:
        return self.false_positives[config] / self.replications

    def interval(self, config: str, z: float = 1.96) -> tuple[float, float]:
        """Wilson 95% interval of the false-positive rate."""
        n, p = self.replications, self.rate(config)
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


@dataclass(frozen=True)
class Streams:
    """Impressions of a batch of A/A experiments, concatenated in time order.

    Per impression: its ``replication`` (non-decreasing), the ``user`` (unique over the batch), the
    user's arm (``challenger``), ``clicked``, and the user's impressions and clicks so far, this one
    included (``k``, ``x``).
    """

    replication: np.ndarray
    user: np.ndarray
    challenger: np.ndarray
    clicked: np.ndarray
    k: np.ndarray
    x: np.ndarray


def simulate_streams(rng: np.random.Generator, replications: int, users: int, population: Population) -> Streams:
    """``replications`` experiments of ``users`` users drawn from ``population``, arms 50/50 per user."""
    shape = (replications, users)
    counts = population.impressions(rng, shape).ravel()
    p = population.propensities(rng, shape).ravel()
    arm = (rng.random(shape) < 0.5).ravel()
    user = np.repeat(np.arange(counts.size), counts)             # grouped by user
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    clicked = rng.random(user.size) < p[user]
    k = np.arange(user.size) - starts + 1.0
    total = np.cumsum(clicked, dtype=np.int64)
    x = (total - (total[starts] - clicked[starts])).astype(float)
    times = np.sort(user + rng.random(user.size)) - user           # each user's times, ascending
    order = np.argsort(user // users + times)                      # interleave users within each replication
    user = user[order]
    return Streams(replication=user // users, user=user, challenger=arm[user], clicked=clicked[order],
                   k=k[order], x=x[order])


def running_sums(streams: Streams, arm_mask: np.ndarray) -> list[np.ndarray]:
    """One arm's user-level running sums after every impression, restarting at each replication.

    Same increments as the analysis's :class:`funflix.experiment.replay.Replay`:
    ``n, m_sum, m_sum_squares, d_sum, d_sum_squares, m_d_sum_of_products``.
    """
    c, k, x = streams.clicked.astype(float), streams.k, streams.x
    x_old, k_old = x - c, k - 1.0
    increments = ((k == 1.0), c, x * x - x_old * x_old, np.ones_like(c), 2.0 * k - 1.0, x * k - x_old * k_old)
    rep = streams.replication
    first = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]])
    lengths = np.diff(np.r_[first, rep.size])
    sums = []
    for inc in increments:
        running = np.cumsum(np.where(arm_mask, inc, 0.0))
        before = running[first] - np.where(arm_mask[first], inc[first], 0.0)
        sums.append(running - np.repeat(before, lengths))
    return sums


def false_positives(streams: Streams, sums, config: SequentialConfig) -> np.ndarray:
    """Per replication: did the sequential test reject at any impression? ``sums``: the
    :func:`running_sums` of control and challenger."""
    llr = sequential_log_likelihood_ratio(*sums, config)
    rejected = llr >= np.log(1.0 / config.alpha)
    rep = streams.replication
    return np.logical_or.reduceat(rejected, np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]]))


def aa_false_positive_rates(rng: np.random.Generator, replications: int, users: int, population: Population,
                            configs: dict[str, SequentialConfig], progress=None) -> StudyCell:
    """Simulate the cell once and count each configuration's false verdicts; ``progress(n)`` after each chunk."""
    if not configs:
        raise ValueError("no test configuration to calibrate")
    chunk = int(max(1, min(replications, CHUNK_IMPRESSIONS // (users * population.mean_impressions))))
    hits, impressions = dict.fromkeys(configs, 0), 0
    for start in range(0, replications, chunk):
        size = min(chunk, replications - start)
        streams = simulate_streams(rng, size, users, population)
        sums = running_sums(streams, ~streams.challenger), running_sums(streams, streams.challenger)
        for name, config in configs.items():
            hits[name] += int(false_positives(streams, sums, config).sum())
        impressions += streams.user.size
        if progress is not None:
            progress(size)
    return StudyCell(population=population.name, users=users, replications=replications,
                     mean_impressions=impressions / (replications * users), false_positives=hits)
