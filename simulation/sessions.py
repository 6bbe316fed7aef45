"""Session plans (who visits, with which random stream), session outcomes, and the run summary.

Session ``i`` of a run with seed ``s`` draws everything random from its own generator,
``np.random.default_rng([s, i])``: which user visits, whether and where they click, how they
browse. A run is therefore reproducible whatever the number of workers or their timing.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from funflix.simulation.click_model import ClickModel


@dataclass(frozen=True)
class SessionPlan:
    """One visit: ``index`` in the run, the MovieLens ``user_id`` and the session's random stream."""

    index: int
    user_id: int
    rng: np.random.Generator


def plan_session(seed: int, index: int, user_ids: np.ndarray) -> SessionPlan:
    """Session ``index``: a user drawn uniformly from ``user_ids`` by the session's own generator."""
    rng = np.random.default_rng([seed, index])
    return SessionPlan(index, int(user_ids[rng.integers(len(user_ids))]), rng)


@dataclass(frozen=True)
class Row:
    """The "Recommended for you" row as the page showed it (read from its data-* attributes)."""

    impression_id: str
    arm: str | None  # None for a fallback row (counted in no arm)
    items: list[int]
    hrefs: list[str]  # the tracked click link of each item
    model_version: str = ""
    strategy: str = ""

    @property
    def fallback(self) -> bool:
        return self.arm is None


@dataclass(frozen=True)
class SessionOutcome:
    """What one simulated visit did. ``clicked`` is the 0-based position clicked (None: no click)."""

    index: int
    user_id: int
    row: Row | None = None
    clicked: int | None = None
    expected_ctr: float = math.nan  # the click model's click probability for the row shown
    pages: int = 0
    extra_impressions: list[Row] = field(default_factory=list)  # rows rendered again in the session (e.g. on back)
    error: str | None = None  # kind of failure, "<stage>:<what>" (e.g. "click:http_500")
    message: str | None = None
    seconds: float = 0.0


class SessionError(Exception):
    """A visit went wrong (unexpected page or status); ``kind`` names it in the summary."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def decide_click(model: ClickModel, plan: SessionPlan, row: Row) -> tuple[int | None, float]:
    """The position the user clicks in ``row`` (or None) and the model's click probability for it."""
    return model.decide(plan.user_id, row.items, plan.rng)


@dataclass
class ArmTally:
    impressions: int = 0
    clicks: int = 0
    expected_clicks: float = 0.0
    expected_variance: float = 0.0  # sum of p(1-p) over the rows shown: variance of the click count

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None

    @property
    def ctr_stderr(self) -> float | None:
        """Binomial standard error of the CTR at the click model's expected rate."""
        if not self.impressions:
            return None
        p = self.expected_clicks / self.impressions
        return math.sqrt(p * (1 - p) / self.impressions)

    @property
    def z(self) -> float | None:
        """Standardised gap between the clicks seen and the click model's expectation for these rows."""
        if self.expected_variance <= 0:
            return None
        return (self.clicks - self.expected_clicks) / math.sqrt(self.expected_variance)

    def to_dict(self) -> dict:
        return {"impressions": self.impressions, "clicks": self.clicks, "ctr": self.ctr,
                "expected_ctr": self.expected_clicks / self.impressions if self.impressions else None,
                "ctr_stderr": self.ctr_stderr, "z": self.z}


class Summary:
    """Thread-safe tally of a run: sessions, impressions and clicks per arm, fallbacks, errors."""

    def __init__(self):
        self._lock = threading.Lock()
        self.sessions = 0
        self.completed = 0
        self.pages = 0
        self.arms: dict[str, ArmTally] = {}
        self.fallback_impressions = 0
        self.fallback_clicks = 0
        self.errors: Counter[str] = Counter()
        self.error_examples: dict[str, str] = {}
        self.session_seconds: list[float] = []

    def add(self, outcome: SessionOutcome) -> None:
        with self._lock:
            self.sessions += 1
            self.pages += outcome.pages
            self.session_seconds.append(outcome.seconds)
            if outcome.error:
                self.errors[outcome.error] += 1
                self.error_examples.setdefault(outcome.error, (outcome.message or "")[:300])
            else:
                self.completed += 1
            if outcome.row is not None:
                self._count(outcome.row, outcome.clicked is not None, outcome.expected_ctr)
            for row in outcome.extra_impressions:
                self._count(row, False, 0.0)

    def _count(self, row: Row, clicked: bool, expected: float) -> None:
        if row.fallback:
            self.fallback_impressions += 1
            self.fallback_clicks += clicked
            return
        tally = self.arms.setdefault(row.arm, ArmTally())
        tally.impressions += 1
        tally.clicks += clicked
        if not math.isnan(expected):
            tally.expected_clicks += expected
            tally.expected_variance += expected * (1 - expected)

    def to_dict(self) -> dict:
        with self._lock:
            seconds = np.array(self.session_seconds) if self.session_seconds else np.zeros(1)
            return {
                "sessions": self.sessions, "completed": self.completed, "pages": self.pages,
                "arms": {arm: tally.to_dict() for arm, tally in sorted(self.arms.items())},
                "fallback": {"impressions": self.fallback_impressions, "clicks": self.fallback_clicks},
                "errors": dict(self.errors), "error_examples": dict(self.error_examples),
                "session_seconds": {"median": float(np.median(seconds)), "p95": float(np.quantile(seconds, 0.95))},
            }
