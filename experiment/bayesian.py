"""Bayesian Beta-Binomial comparison: chance the challenger beats control, and expected loss.

Each arm's CTR has the posterior Beta(prior_a + clicks, prior_b + non-clicks). The two
numbers are one-dimensional integrals, computed by Gauss-Legendre quadrature over the
narrower posterior's support (deterministic, no sampling):

* P(B > A) = integral of f_A(x) (1 - F_B(x)) dx;
* expected loss of shipping B = E[max(A - B, 0)] = integral of f_A(a) (a F_B(a) - mean_B F_B+(a)) da,
  where B+ is Beta(a_B + 1, b_B) (and symmetrically for keeping A).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import beta

from .constants import NO_DATA
from .statistics import ProportionStatistic

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(400)
_TAIL = 1e-12


@dataclass(frozen=True)
class BayesianConfig:
    """Beta prior (uniform by default) and the loss, in absolute CTR, one is willing to risk."""

    prior_a: float = 1.0
    prior_b: float = 1.0
    loss_threshold: float = 0.001

    def __post_init__(self) -> None:
        if self.prior_a <= 0 or self.prior_b <= 0:
            raise ValueError(f"Beta prior parameters must be positive, got {self.prior_a}, {self.prior_b}")
        if self.loss_threshold < 0:
            raise ValueError(f"loss threshold must be non-negative, got {self.loss_threshold}")


@dataclass(frozen=True)
class BayesianResult:
    """Posterior means, P(challenger > control), and the expected CTR lost by each choice."""

    test: str = "Beta-Binomial"
    control_mean: float = 0.0
    challenger_mean: float = 0.0
    probability_challenger_better: float = 0.5
    expected_loss_challenger: float = 0.0   # CTR lost on average if we ship the challenger
    expected_loss_control: float = 0.0      # CTR lost on average if we keep control
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def _posterior(stat: ProportionStatistic, cfg: BayesianConfig, design_effect: float) -> tuple[float, float]:
    """Beta posterior from the arm's counts shrunk to their effective sample size (n / design effect)."""
    return cfg.prior_a + stat.clicks / design_effect, cfg.prior_b + (stat.n - stat.clicks) / design_effect


def _expect(a: tuple[float, float], b: tuple[float, float], function) -> float:
    """E[function(x)] for x ~ Beta(*a) where ``function`` may use Beta ``b``; quadrature on ``a``."""
    lo, hi = beta.ppf([_TAIL, 1.0 - _TAIL], *a)
    x = 0.5 * (hi - lo) * _NODES + 0.5 * (hi + lo)
    w = 0.5 * (hi - lo) * _WEIGHTS
    return float(np.sum(w * beta.pdf(x, *a) * function(x)))


def probability_and_losses(control: tuple[float, float], challenger: tuple[float, float]
                           ) -> tuple[float, float, float]:
    """(P(B > A), E[max(A - B, 0)], E[max(B - A, 0)]) for A ~ Beta(*control), B ~ Beta(*challenger)."""
    a, b = control, challenger
    mean_a, mean_b = a[0] / sum(a), b[0] / sum(b)
    # integrate over the narrower posterior, where quadrature nodes are densest
    if beta.var(*a) <= beta.var(*b):
        p_better = _expect(a, b, lambda x: beta.sf(x, *b))
        loss_b = _expect(a, b, lambda x: x * beta.cdf(x, *b) - mean_b * beta.cdf(x, b[0] + 1, b[1]))
    else:
        p_better = _expect(b, a, lambda x: beta.cdf(x, *a))
        loss_b = _expect(b, a, lambda x: mean_a * beta.sf(x, a[0] + 1, a[1]) - x * beta.sf(x, *a))
    # E[max(B - A, 0)] = E[max(A - B, 0)] + E[B] - E[A]
    loss_a = loss_b + mean_b - mean_a
    return min(max(p_better, 0.0), 1.0), max(loss_b, 0.0), max(loss_a, 0.0)


class BetaBinomialTest:
    """Challenger versus control with independent Beta posteriors.

    Impressions of one user are correlated; ``design_effects`` (control, challenger), from the
    user-level analysis, divide the counts down to their effective sample size so the
    posterior is not overconfident. The default (1, 1) is the plain Beta-Binomial model.
    """

    def __init__(self, control: ProportionStatistic, challenger: ProportionStatistic,
                 config: BayesianConfig | None = None, design_effects: tuple[float, float] = (1.0, 1.0)) -> None:
        if min(design_effects) < 1.0:
            raise ValueError(f"design effects must be >= 1, got {design_effects}")
        self.control, self.challenger = control, challenger
        self.config = config or BayesianConfig()
        self.design_effects = design_effects

    def compute_result(self) -> BayesianResult:
        if self.control.n == 0 or self.challenger.n == 0:
            return BayesianResult(errors=(NO_DATA,))
        a = _posterior(self.control, self.config, self.design_effects[0])
        b = _posterior(self.challenger, self.config, self.design_effects[1])
        p_better, loss_b, loss_a = probability_and_losses(a, b)
        return BayesianResult(control_mean=a[0] / sum(a), challenger_mean=b[0] / sum(b),
                              probability_challenger_better=p_better,
                              expected_loss_challenger=loss_b, expected_loss_control=loss_a)
