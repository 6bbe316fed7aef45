"""Result dataclasses shared by the tests (frozen, JSON-ready through ``asdict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ComparisonResult:
    """Challenger versus control on one test: effect, intervals, statistic, p-value.

    Degenerate input leaves the defaults (no effect, p = 1, not significant) and names the
    reason in ``errors`` (codes from :mod:`funflix.experiment.constants`).
    """

    test: str
    control_mean: float = 0.0
    challenger_mean: float = 0.0
    difference: float = 0.0
    difference_ci: tuple[float, float] = (0.0, 0.0)
    relative_lift: float = 0.0
    relative_lift_ci: tuple[float, float] = (0.0, 0.0)
    standard_error: float = 0.0
    statistic: float = 0.0
    p_value: float = 1.0
    significant: bool = False
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)
