"""Always-valid sequential test: mSPRT with a normal mixture on the CTR difference.

With the difference estimate ``d ~ N(theta, V)`` and a mixing prior ``theta ~ N(0, tau^2)``
(Johari, Pekelis & Walsh, "Always valid inference", 2017; Robbins 1970), the mixture
likelihood ratio against ``theta = 0`` is

    Lambda = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2))).

Under the null it is a (nonnegative) martingale, so by Ville's inequality
``P(sup Lambda >= 1/alpha) <= alpha``: the test may be read after every impression. The
always-valid p-value is the running minimum of ``1/Lambda``; inverting the test gives a
confidence sequence ``d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))``,
intersected over time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .constants import NO_DATA, ZERO_VARIANCE


@dataclass(frozen=True)
class SequentialConfig:
    """``mixture_sd`` (tau) is the prior scale of the absolute CTR difference: set it near the
    effect you care about (the plan's 7% -> 11% is 0.04); the test stays valid for any value."""

    alpha: float = 0.05
    mixture_sd: float = 0.03

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.mixture_sd <= 0.0:
            raise ValueError(f"mixture_sd must be positive, got {self.mixture_sd}")


@dataclass(frozen=True)
class SequentialPath:
    """The test at every look: arrays (as tuples) aligned with ``looks``."""

    looks: tuple[int, ...] = ()                 # impressions so far at each look (both arms)
    difference: tuple[float, ...] = ()
    ci_lower: tuple[float, ...] = ()            # running intersection of the confidence sequence
    ci_upper: tuple[float, ...] = ()
    log_likelihood_ratio: tuple[float, ...] = ()
    p_value: tuple[float, ...] = ()             # always-valid p-value (non-increasing)


@dataclass(frozen=True)
class SequentialResult:
    """The test's state now; ``decided_at`` is the look at which it first rejected (or None)."""

    test: str = "mSPRT (normal mixture, always valid)"
    difference: float = 0.0
    ci: tuple[float, float] = (0.0, 0.0)
    log_likelihood_ratio: float = 0.0
    threshold: float = 0.0                      # log(1 / alpha)
    p_value: float = 1.0
    significant: bool = False
    decided_at: int | None = None
    mixture_sd: float = 0.0
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def msprt_log_likelihood_ratio(difference, variance, mixture_sd: float):
    """log Lambda for arrays of difference estimates and their variances (0 where variance is 0)."""
    d, v = np.asarray(difference, dtype=float), np.asarray(variance, dtype=float)
    tau2 = mixture_sd * mixture_sd
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = 0.5 * np.log(v / (v + tau2)) + d * d * tau2 / (2.0 * v * (v + tau2))
    return np.where(v > 0.0, llr, 0.0)


def confidence_sequence_half_width(variance, mixture_sd: float, alpha: float):
    """Half-width of the mSPRT confidence sequence at each look (inf where variance is 0)."""
    v = np.asarray(variance, dtype=float)
    tau2 = mixture_sd * mixture_sd
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(v * (v + tau2) / tau2 * (2.0 * np.log(1.0 / alpha) + np.log((v + tau2) / v)))
    return np.where(v > 0.0, half, np.inf)


def always_valid_p_values(log_likelihood_ratio, axis: int = -1):
    """Running minimum of ``min(1, 1/Lambda)`` along ``axis``."""
    llr = np.asarray(log_likelihood_ratio, dtype=float)
    return np.minimum.accumulate(np.minimum(1.0, np.exp(-llr)), axis=axis)


@dataclass(frozen=True)
class SequentialState:
    """The test's running state, folded look by look: what later looks need of earlier ones
    (so a live analysis extends it with new looks instead of recomputing from the start)."""

    config: SequentialConfig
    looks: int = 0                              # looks folded in
    last_look: int = 0                          # impressions at the latest look
    difference: float = 0.0
    variance: float = 0.0
    log_likelihood_ratio: float = 0.0
    p_value: float = 1.0                        # running minimum of min(1, 1/Lambda)
    ci_lower: float = -np.inf                   # running intersection of the confidence sequence
    ci_upper: float = np.inf
    decided_at: int | None = None

    def advance(self, looks, difference, variance, keep=None) -> tuple["SequentialState", SequentialPath]:
        """Fold in new looks (arrays in time order); returns the new state and the path over them
        (only at the indices ``keep``, when given)."""
        cfg = self.config
        looks, d, v = (np.asarray(a) for a in (looks, difference, variance))
        if d.size == 0:
            return self, SequentialPath()
        llr = msprt_log_likelihood_ratio(d, v, cfg.mixture_sd)
        p = np.minimum(always_valid_p_values(llr), self.p_value)
        half = confidence_sequence_half_width(v, cfg.mixture_sd, cfg.alpha)
        lower = np.maximum(np.maximum.accumulate(d - half), self.ci_lower)
        upper = np.minimum(np.minimum.accumulate(d + half), self.ci_upper)
        decided_at = self.decided_at
        if decided_at is None:
            crossed = np.flatnonzero(llr >= np.log(1.0 / cfg.alpha))
            decided_at = int(looks[crossed[0]]) if crossed.size else None
        state = SequentialState(cfg, self.looks + d.size, int(looks[-1]), float(d[-1]), float(v[-1]),
                                float(llr[-1]), float(p[-1]), float(lower[-1]), float(upper[-1]), decided_at)
        keep = slice(None) if keep is None else keep
        path = SequentialPath(looks=tuple(looks[keep].astype(int).tolist()), difference=tuple(d[keep].tolist()),
                              ci_lower=tuple(lower[keep].tolist()), ci_upper=tuple(upper[keep].tolist()),
                              log_likelihood_ratio=tuple(llr[keep].tolist()), p_value=tuple(p[keep].tolist()))
        return state, path

    def result(self) -> SequentialResult:
        cfg = self.config
        threshold = float(np.log(1.0 / cfg.alpha))
        if self.looks == 0:
            return SequentialResult(threshold=threshold, mixture_sd=cfg.mixture_sd, errors=(NO_DATA,))
        errors = () if self.variance > 0.0 else (ZERO_VARIANCE,)
        ci = (max(self.ci_lower, -1.0), min(self.ci_upper, 1.0))  # a CTR difference lies in [-1, 1]
        return SequentialResult(difference=self.difference, ci=ci, log_likelihood_ratio=self.log_likelihood_ratio,
                                threshold=threshold, p_value=self.p_value, significant=self.p_value <= cfg.alpha,
                                decided_at=self.decided_at, mixture_sd=cfg.mixture_sd, errors=errors)


def sequential_test(looks, difference, variance, config: SequentialConfig | None = None
                    ) -> tuple[SequentialResult, SequentialPath]:
    """Run the mSPRT over the looks (impressions so far, difference, variance of the difference)."""
    state, path = SequentialState(config or SequentialConfig()).advance(looks, difference, variance)
    return state.result(), path
