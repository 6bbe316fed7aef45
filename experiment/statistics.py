"""Sufficient statistics: what every test needs to know about one arm, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProportionStatistic:
    """Impression-level counts of one arm: ``n`` impressions, ``clicks`` clicked impressions."""

    n: int
    clicks: int

    def __post_init__(self) -> None:
        if self.n < 0 or self.clicks < 0:
            raise ValueError(f"counts must be non-negative, got n={self.n}, clicks={self.clicks}")
        if self.clicks > self.n:
            raise ValueError(f"clicks ({self.clicks}) cannot exceed impressions ({self.n})")

    @property
    def mean(self) -> float:
        """Click-through rate (0 when there are no impressions)."""
        return self.clicks / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Bernoulli variance p(1-p) of one impression."""
        p = self.mean
        return p * (1.0 - p)


@dataclass(frozen=True)
class RatioStatistic:
    """User-level sums of one arm for CTR as a ratio metric (clicks per impression over users).

    For user ``u`` with ``y_u`` impressions of which ``x_u`` were clicked: ``n`` users,
    ``m_sum = sum x``, ``d_sum = sum y``, ``m_sum_squares = sum x^2``, ``d_sum_squares = sum y^2``,
    ``m_d_sum_of_products = sum x*y`` (numerator *m*, denominator *d*).
    """

    n: int
    m_sum: float
    m_sum_squares: float
    d_sum: float
    d_sum_squares: float
    m_d_sum_of_products: float

    @property
    def mean(self) -> float:
        """The ratio sum x / sum y: CTR over all of the arm's impressions (0 if none)."""
        return self.m_sum / self.d_sum if self.d_sum else 0.0

    @property
    def d_mean(self) -> float:
        """Denominator per unit: impressions (or visits) per user."""
        return self.d_sum / self.n if self.n else 0.0

    @property
    def d_variance(self) -> float:
        """Sample variance of the denominator over units (n - 1)."""
        return _sample_variance(self.d_sum, self.d_sum_squares, self.n)

    @property
    def proportion(self) -> ProportionStatistic:
        """The same arm seen impression by impression (ignores who saw what)."""
        return ProportionStatistic(n=int(round(self.d_sum)), clicks=int(round(self.m_sum)))


def _sample_variance(total: float, sum_squares: float, n: int) -> float:
    if n <= 1:
        return 0.0
    return max((sum_squares - total * total / n) / (n - 1), 0.0)
