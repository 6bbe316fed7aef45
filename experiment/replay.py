"""The experiment replayed impression by impression, in chunks, in bounded memory.

Impressions arrive in time order (from a DataFrame, or streamed from the event store). For
every prefix of the experiment each arm's user-level sums (users, clicks, impressions, and
their squares and products) are updated exactly as each impression arrives, which gives the
always-valid test after every impression. Only each user's running counts are kept (memory
grows with users, not impressions), plus a thinned sample of the path for the report's plots.

A :class:`Replay` is a state: :meth:`Replay.copy` then more :meth:`Replay.feed` calls extend it,
so a live analysis keeps the replay of its settled past and only feeds what is new.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .intervals import wilson_interval
from .sequential import SequentialConfig, SequentialPath, SequentialResult, SequentialState
from .statistics import RatioStatistic
from .user_level import ratio_variance

SUM_FIELDS = ("n", "m_sum", "m_sum_squares", "d_sum", "d_sum_squares", "m_d_sum_of_products")


@dataclass(frozen=True)
class Timeline:
    """Checkpoints through the experiment for the report's plots (cumulative per arm)."""

    times: tuple[str, ...] = ()
    impressions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    clicks: dict[str, tuple[int, ...]] = field(default_factory=dict)
    ctr_lower: dict[str, tuple[float, ...]] = field(default_factory=dict)
    ctr_upper: dict[str, tuple[float, ...]] = field(default_factory=dict)
    sequential: dict[str, SequentialPath] = field(default_factory=dict)


class _ArmUsers:
    """One arm's users (sorted ids) with their impressions and clicks so far."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.impressions = np.zeros(0, dtype=np.int64)
        self.clicks = np.zeros(0, dtype=np.int64)

    def advance(self, users: np.ndarray, clicked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's user's impressions and clicks so far, this row included; the counts move on."""
        fresh = np.setdiff1d(users, self.ids)
        if fresh.size:
            ids = np.union1d(self.ids, fresh)
            at = np.searchsorted(ids, self.ids)
            impressions, clicks = np.zeros(ids.size, np.int64), np.zeros(ids.size, np.int64)
            impressions[at], clicks[at] = self.impressions, self.clicks
            self.ids, self.impressions, self.clicks = ids, impressions, clicks
        index = np.searchsorted(self.ids, users)
        order = np.argsort(index, kind="stable")
        run = index[order]
        starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
        lengths = np.diff(np.r_[starts, run.size])
        rank = np.arange(run.size) - np.repeat(starts, lengths)              # earlier rows of this user here
        ordered_clicks = clicked[order]
        running = np.cumsum(ordered_clicks)
        before = np.repeat(running[starts] - ordered_clicks[starts], lengths)
        k, x = np.empty(run.size, np.int64), np.empty(run.size, np.int64)
        k[order] = self.impressions[run] + rank + 1
        x[order] = self.clicks[run] + running - before
        ends = starts + lengths - 1
        self.impressions[run[ends]] = k[order][ends]
        self.clicks[run[ends]] = x[order][ends]
        return k, x


class Replay:
    """Per-arm running sums and the sequential test of each challenger, impression by impression.

    ``arms`` fixes the arm codes fed in (``arms[code]``); ``max_points`` bounds the plotted path.
    """

    def __init__(self, arms: list[str], control: str, config: SequentialConfig, max_points: int = 200) -> None:
        self.arms, self.control = list(arms), control
        self.challengers = [a for a in self.arms if a != control]
        self.max_points = max_points
        self.rows = 0
        self._users = [_ArmUsers() for _ in self.arms]
        self._sums = np.zeros((len(self.arms), len(SUM_FIELDS)))
        self._states = {arm: SequentialState(config) for arm in self.challengers}
        self._stride = 1
        self._samples: list[dict] = []   # per sampled row: time, per-arm (impressions, clicks), per-challenger path
        self._last: dict | None = None

    def copy(self) -> "Replay":
        return copy.deepcopy(self)

    def feed(self, codes, users, clicked, times) -> None:
        """Add impressions in time order: arm codes, user ids, 0/1 clicked, times (epoch seconds)."""
        codes, users = np.asarray(codes, np.int64), np.asarray(users, np.int64)
        clicked, times = np.asarray(clicked, np.int64), np.asarray(times, float)
        if codes.size == 0:
            return
        cumulative = np.empty((len(self.arms), len(SUM_FIELDS), codes.size))
        for code, arm_users in enumerate(self._users):
            mask = codes == code
            increments = np.zeros((len(SUM_FIELDS), codes.size))
            if mask.any():
                k, x = arm_users.advance(users[mask], clicked[mask])
                c = clicked[mask].astype(float)
                k, x = k.astype(float), x.astype(float)
                x_old, k_old = x - c, k - 1.0
                increments[:, mask] = np.stack([k == 1.0, c, x * x - x_old * x_old, np.ones_like(c), 2.0 * k - 1.0,
                                                x * k - x_old * k_old])
            cumulative[code] = np.cumsum(increments, axis=1) + self._sums[code][:, None]
        self._sums = cumulative[:, :, -1].copy()
        while (self.rows + codes.size) // self._stride > 2 * self.max_points:  # thin the plotted path
            self._stride *= 2
            self._samples = [s for s in self._samples if (s["row"] + 1) % self._stride == 0]
        global_index = self.rows + np.arange(codes.size)
        targets = np.unique(np.r_[np.flatnonzero((global_index + 1) % self._stride == 0), codes.size - 1])
        control = self.arms.index(self.control)
        paths = {}
        for arm in self.challengers:
            a, b = cumulative[control], cumulative[self.arms.index(arm)]
            both = np.flatnonzero((a[3] > 0) & (b[3] > 0))
            variance = ratio_variance(*a[:, both]) + ratio_variance(*b[:, both])
            difference = b[1, both] / b[3, both] - a[1, both] / a[3, both]
            at = np.searchsorted(both, targets)
            keep = at[(at < both.size) & (both[np.minimum(at, max(both.size - 1, 0))] == targets)] if both.size else at[:0]
            self._states[arm], path = self._states[arm].advance(a[3, both] + b[3, both], difference, variance, keep)
            fields = [getattr(path, f) for f in SequentialPath.__dataclass_fields__]
            paths[arm] = {int(row): tuple(values) for row, values in zip(both[keep], zip(*fields))}
        for row in targets:
            point = {"time": float(times[row]), "row": int(global_index[row]),
                     "counts": cumulative[:, [3, 1], row].astype(np.int64),
                     "path": {arm: by_row[row] for arm, by_row in paths.items() if row in by_row}}
            if row == codes.size - 1:
                self._last = point
                if (global_index[row] + 1) % self._stride:
                    continue
            self._samples.append(point)
        self.rows += codes.size

    def ratio_statistics(self) -> dict[str, RatioStatistic]:
        """Each arm's user-level sums over everything fed so far."""
        return {arm: RatioStatistic(int(round(s[0])), *(float(v) for v in s[1:])) for arm, s in zip(self.arms, self._sums)}

    def sequential(self) -> dict[str, SequentialResult]:
        return {arm: state.result() for arm, state in self._states.items()}

    def timeline(self, alpha: float) -> Timeline:
        """Up to ``max_points`` evenly spread checkpoints, ending with the latest impression."""
        points = list(self._samples)
        if self._last is not None and (not points or points[-1]["row"] != self._last["row"]):
            points.append(self._last)
        if not points:
            return Timeline()
        if len(points) > self.max_points:
            chosen = np.unique(np.linspace(0, len(points) - 1, self.max_points).round().astype(int))
            points = [points[i] for i in chosen]
        micros = np.round(np.array([p["time"] for p in points]) * 1e6).astype(np.int64)
        times = tuple(pd.to_datetime(micros, unit="us", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"))
        impressions, clicks, lower, upper = {}, {}, {}, {}
        for code, arm in enumerate(self.arms):
            n = [int(p["counts"][code][0]) for p in points]
            x = [int(p["counts"][code][1]) for p in points]
            bounds = [wilson_interval(c, k, alpha) for c, k in zip(x, n)]
            impressions[arm], clicks[arm] = tuple(n), tuple(x)
            lower[arm], upper[arm] = tuple(b[0] for b in bounds), tuple(b[1] for b in bounds)
        sequential = {}
        for arm in self.challengers:
            values = [p["path"][arm] for p in points if arm in p["path"]]
            sequential[arm] = SequentialPath(*(tuple(v[i] for v in values) for i in range(len(SequentialPath.__dataclass_fields__))))
        return Timeline(times=times, impressions=impressions, clicks=clicks, ctr_lower=lower, ctr_upper=upper,
                        sequential=sequential)
