"""A cascade click model with patience, driven by each user's true tastes.

A user scans a shown list top-down. At each examined position they click the item with its
*attractiveness* ``a = sigmoid(intercept + future_weight * future + genre_weight * genre)``
(``future``/``genre`` from :class:`~funflix.simulation.tastes.Tastes`); otherwise they look at the
next item with probability ``patience`` or leave without clicking. The first click ends the scan
(the user clicks one item, visits it and leaves). So the chance to examine position ``p`` (1-based)
without an earlier click is ``prod_{q<p} (1 - a_q) * patience``: position bias falls geometrically,
the no-click outcome has the rest of the probability mass.

The model sees a user and the items shown, never the arm that served them. ``intercept`` is the one
calibration constant of a run: :func:`calibrate` sets it so that the control model's lists earn the
business case's baseline CTR (7%) in expectation over the simulated users.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from funflix.simulation.tastes import Tastes

BASELINE_CTR = 0.07


def click_distribution(z: np.ndarray, intercept: float, patience: float) -> np.ndarray:
    """Probability of a (first) click at each position.

    Parameters
    ----------
    z : (n_lists, k) liking scores without the intercept; ``-inf`` pads lists shorter than ``k``.
    intercept, patience : see :class:`ClickModel`.

    Returns
    -------
    (n_lists, k) array; each row sums to the list's click probability (the rest is "no click").
    """
    z = np.atleast_2d(np.asarray(z, dtype=float))
    attract = 1.0 / (1.0 + np.exp(-(intercept + z)))
    carry_on = (1.0 - attract) * patience
    reach = np.concatenate([np.ones((len(z), 1)), np.cumprod(carry_on[:, :-1], axis=1)], axis=1)
    return reach * attract


@dataclass(frozen=True)
class ClickModel:
    """Cascade click model over :class:`Tastes` (see the module docstring).

    Parameters
    ----------
    tastes : the simulated users' true likings.
    intercept : calibration constant (log-odds of clicking an examined item the user has no taste for).
    patience : probability of examining the next item after not clicking one, in (0, 1].
    future_weight : log-odds added by a held-out positive (times its rating / 5).
    genre_weight : log-odds added at full genre affinity.
    """

    tastes: Tastes
    intercept: float = -5.0
    patience: float = 0.8
    future_weight: float = 4.0
    genre_weight: float = 2.5

    def __post_init__(self):
        if not 0 < self.patience <= 1:
            raise ValueError(f"patience must be in (0, 1], got {self.patience}")
        if self.future_weight < 0 or self.genre_weight < 0:
            raise ValueError("future_weight and genre_weight must be >= 0 (clicks grow with liking)")

    def liking_scores(self, user_id: int, items) -> np.ndarray:
        """(len(items),) log-odds of clicking each item, without the intercept."""
        future, genre = self.tastes.liking(user_id, items)
        return self.future_weight * future + self.genre_weight * genre

    def position_probabilities(self, user_id: int, items) -> np.ndarray:
        """(len(items),) probability that the user's click lands on each position."""
        return click_distribution(self.liking_scores(user_id, items)[None, :], self.intercept, self.patience)[0]

    def expected_ctr(self, user_id: int, items) -> float:
        """Probability that ``user_id`` clicks some item of the list ``items`` (best first)."""
        return float(self.position_probabilities(user_id, items).sum()) if len(items) else 0.0

    def sample_click(self, user_id: int, items, rng: np.random.Generator) -> int | None:
        """The 0-based position the user clicks, or None for no click; one uniform draw from ``rng``."""
        return self.decide(user_id, items, rng)[0]

    def decide(self, user_id: int, items, rng: np.random.Generator) -> tuple[int | None, float]:
        """``(position clicked or None, probability of any click)`` for one showing of ``items``."""
        cumulative = np.cumsum(self.position_probabilities(user_id, items)) if len(items) else np.zeros(0)
        position = int(np.searchsorted(cumulative, rng.random(), side="right"))
        return (position if position < len(cumulative) else None), float(cumulative[-1]) if len(items) else 0.0

    def user_ctrs(self, lists: dict[int, list[int]]) -> np.ndarray:
        """(len(lists),) probability that each user in ``lists`` clicks their list, in the mapping's order."""
        return click_distribution(self._score_matrix(lists), self.intercept, self.patience).sum(axis=1)

    def mean_ctr(self, lists: dict[int, list[int]]) -> float:
        """Expected CTR of showing each user in ``lists`` their list once (users weighted equally)."""
        return float(self.user_ctrs(lists).mean())

    def _score_matrix(self, lists: dict[int, list[int]]) -> np.ndarray:
        if not lists:
            raise ValueError("no lists to score")
        k = max(len(items) for items in lists.values())
        z = np.full((len(lists), k), -np.inf)
        for row, (user_id, items) in enumerate(lists.items()):
            z[row, : len(items)] = self.liking_scores(user_id, items)
        return z

    def calibrated(self, lists: dict[int, list[int]], target: float = BASELINE_CTR, tolerance: float = 1e-7) -> "ClickModel":
        """A copy whose intercept makes :meth:`mean_ctr` of ``lists`` equal ``target`` (bisection)."""
        if not 0 < target < 1:
            raise ValueError(f"target CTR must be in (0, 1), got {target}")
        z = self._score_matrix(lists)

        def ctr(intercept: float) -> float:
            return float(click_distribution(z, intercept, self.patience).sum(axis=1).mean())

        low, high = -30.0, 30.0
        if not ctr(low) < target < ctr(high):
            raise ValueError(f"target CTR {target} is out of reach of this model "
                             f"({ctr(low):.4f}..{ctr(high):.4f} for these lists and patience {self.patience})")
        while high - low > tolerance:
            middle = (low + high) / 2
            low, high = (middle, high) if ctr(middle) < target else (low, middle)
        return replace(self, intercept=(low + high) / 2)
