"""Design of the test: sample size per arm, power and duration for a two-proportion test.

Three sample-size methods, side by side:

* ``fleiss_cc`` -- Fleiss, Tytun & Ury (1980) with continuity correction, as the original
  Funflix plan used (baseline 7 %, target 11 %, alpha 0.05, power 0.9: 925 per arm one-sided,
  1124 two-sided);
* ``normal`` -- the same normal approximation without the correction (pooled variance under
  the null, unpooled under the alternative; statsmodels ``samplesize_proportions_2indep_onetail``);
* ``arcsine`` -- Cohen's h with the arcsine transform (statsmodels ``proportion_effectsize`` +
  ``NormalIndPower``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from scipy.stats import norm

from .intervals import z_critical

Method = Literal["fleiss_cc", "normal", "arcsine"]
METHODS: tuple[Method, ...] = ("fleiss_cc", "normal", "arcsine")


@dataclass(frozen=True)
class PlanConfig:
    """What the experimenter wants to detect and with which error rates.

    Give ``target`` (the challenger's CTR) or ``mde`` (absolute, or relative to the baseline
    with ``relative_mde=True``). ``control_share`` is the control arm's share of the traffic;
    ``design_effect`` inflates impression counts for users who see many impressions.
    """

    baseline: float
    target: float | None = None
    mde: float | None = None
    relative_mde: bool = False
    alpha: float = 0.05
    power: float = 0.9
    sides: Literal[1, 2] = 1
    control_share: float = 0.5
    design_effect: float = 1.0
    traffic_per_day: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.baseline < 1.0:
            raise ValueError(f"baseline must be a rate in (0, 1), got {self.baseline}")
        if (self.target is None) == (self.mde is None):
            raise ValueError("give exactly one of target or mde")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 < self.power < 1.0:
            raise ValueError(f"power must be in (0, 1), got {self.power}")
        if self.sides not in (1, 2):
            raise ValueError(f"sides must be 1 or 2, got {self.sides}")
        if not 0.0 < self.control_share < 1.0:
            raise ValueError(f"control share must be in (0, 1), got {self.control_share}")
        if self.design_effect < 1.0:
            raise ValueError(f"design effect must be >= 1, got {self.design_effect}")
        if self.traffic_per_day is not None and self.traffic_per_day <= 0:
            raise ValueError(f"traffic per day must be positive, got {self.traffic_per_day}")
        target = self.challenger_rate
        if not 0.0 < target < 1.0:
            raise ValueError(f"target rate must be in (0, 1), got {target:g}")
        if target == self.baseline:
            raise ValueError("target equals baseline: there is no effect to detect")

    @property
    def challenger_rate(self) -> float:
        """The challenger's CTR under the alternative."""
        if self.target is not None:
            return self.target
        mde = float(self.mde or 0.0)
        return self.baseline * (1.0 + mde) if self.relative_mde else self.baseline + mde

    @property
    def ratio(self) -> float:
        """Challenger impressions per control impression."""
        return (1.0 - self.control_share) / self.control_share


@dataclass(frozen=True)
class SampleSize:
    """Impressions needed with one method (rounded up), and the days that takes if traffic is known."""

    method: str
    control: int
    challenger: int
    total: int
    days: float | None


@dataclass(frozen=True)
class PlanResult:
    """Sample sizes by every method; ``primary`` is Fleiss with continuity correction."""

    baseline: float
    target: float
    absolute_effect: float
    relative_effect: float
    alpha: float
    power: float
    sides: int
    control_share: float
    design_effect: float
    traffic_per_day: float | None
    sample_sizes: tuple[SampleSize, ...] = field(default_factory=tuple)

    @property
    def primary(self) -> SampleSize:
        return self.sample_sizes[0]

    def to_dict(self) -> dict:
        return asdict(self)


def fleiss_sample_size(p1: float, p2: float, alpha: float, power: float, sides: int = 1,
                       ratio: float = 1.0, continuity: bool = True) -> float:
    """Control-arm sample size (unrounded) to tell ``p1`` (control) from ``p2`` (challenger).

    The challenger gets ``ratio`` times as many. Pooled variance under the null, unpooled
    under the alternative; ``continuity=True`` applies Fleiss-Tytun-Ury's correction.
    """
    delta = abs(p2 - p1)
    z_alpha, z_beta = z_critical(alpha, sides), float(norm.ppf(power))
    p_bar = (p1 + ratio * p2) / (1.0 + ratio)
    null_sd = math.sqrt((ratio + 1.0) * p_bar * (1.0 - p_bar))
    alt_sd = math.sqrt(ratio * p1 * (1.0 - p1) + p2 * (1.0 - p2))
    n = (z_alpha * null_sd + z_beta * alt_sd) ** 2 / (ratio * delta * delta)
    if continuity:
        n = n / 4.0 * (1.0 + math.sqrt(1.0 + 2.0 * (ratio + 1.0) / (n * ratio * delta))) ** 2
    return n


def arcsine_sample_size(p1: float, p2: float, alpha: float, power: float, sides: int = 1,
                        ratio: float = 1.0) -> float:
    """Control-arm sample size (unrounded) from Cohen's h = 2 asin(sqrt p2) - 2 asin(sqrt p1)."""
    h = abs(2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1)))
    return ((z_critical(alpha, sides) + float(norm.ppf(power))) / h) ** 2 * (1.0 + 1.0 / ratio)


def power_two_proportions(n_control: float, p1: float, p2: float, alpha: float, sides: int = 1,
                          ratio: float = 1.0) -> float:
    """Power of the two-proportion z-test (pooled under the null) with ``n_control`` control units.

    One-sided tests look in the direction of ``p2 - p1``; two-sided power counts both tails.
    """
    n2 = ratio * n_control
    p_bar = (n_control * p1 + n2 * p2) / (n_control + n2)
    null_se = math.sqrt(p_bar * (1.0 - p_bar) * (1.0 / n_control + 1.0 / n2))
    alt_se = math.sqrt(p1 * (1.0 - p1) / n_control + p2 * (1.0 - p2) / n2)
    delta, z = abs(p2 - p1), z_critical(alpha, sides)
    power = float(norm.cdf((delta - z * null_se) / alt_se))
    if sides == 2:
        power += float(norm.cdf((-delta - z * null_se) / alt_se))
    return power


def plan(config: PlanConfig) -> PlanResult:
    """Sample size per arm by every method, inflated by the design effect, and the duration."""
    p1, p2 = config.baseline, config.challenger_rate
    raw = {
        "fleiss_cc": fleiss_sample_size(p1, p2, config.alpha, config.power, config.sides, config.ratio, True),
        "normal": fleiss_sample_size(p1, p2, config.alpha, config.power, config.sides, config.ratio, False),
        "arcsine": arcsine_sample_size(p1, p2, config.alpha, config.power, config.sides, config.ratio),
    }
    sizes = []
    for method in METHODS:
        control = math.ceil(raw[method] * config.design_effect - 1e-9)
        challenger = math.ceil(control * config.ratio - 1e-9)
        sizes.append(SampleSize(method=method, control=control, challenger=challenger,
                                total=control + challenger,
                                days=duration_days(control, challenger, config.traffic_per_day,
                                                   config.control_share)))
    return PlanResult(baseline=p1, target=p2, absolute_effect=p2 - p1, relative_effect=(p2 - p1) / p1,
                      alpha=config.alpha, power=config.power, sides=config.sides,
                      control_share=config.control_share, design_effect=config.design_effect,
                      traffic_per_day=config.traffic_per_day, sample_sizes=tuple(sizes))


def duration_days(n_control: int, n_challenger: int, traffic_per_day: float | None,
                  control_share: float = 0.5) -> float | None:
    """Days until both arms reach their sample size, with ``traffic_per_day`` impressions in all."""
    if traffic_per_day is None:
        return None
    if traffic_per_day <= 0:
        raise ValueError(f"traffic per day must be positive, got {traffic_per_day}")
    return max(n_control / (traffic_per_day * control_share),
               n_challenger / (traffic_per_day * (1.0 - control_share)))
