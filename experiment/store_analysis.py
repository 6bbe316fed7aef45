"""The analysis read from the event store itself, in bounded memory, look after look.

Per-user sums are aggregated in the database (``GROUP BY`` user, then arm: a few rows come
back whatever the number of impressions); the always-valid test is replayed impression by
impression from a time-ordered stream in chunks. :class:`StoreAnalysis` keeps the replay of the
settled past (rows that can no longer change: closed, feedback delivered) between looks, so a
repeated look streams only what is new. The figures equal :func:`analysis.analyze` on the same rows.
"""

from __future__ import annotations

import threading

import pandas as pd

from funflix.website import store

from .analysis import (AnalysisConfig, AnalysisResult, Observations, analyze_observations, arm_order,
                       sequential_config)
from .cuped import with_covariates
from .replay import Replay
from .statistics import RatioStatistic


def ratio_statistics(sums: dict[str, dict[str, int]]) -> tuple[dict[str, RatioStatistic], dict[str, RatioStatistic]]:
    """(clicked impressions / impressions, clicked visits / visits) per arm from :func:`store.arm_sums`."""
    impressions, visits = {}, {}
    for arm, s in sums.items():
        impressions[arm] = RatioStatistic(s["users"], s["clicks"], s["clicks_squared"], s["impressions"],
                                          s["impressions_squared"], s["clicks_impressions"])
        visits[arm] = RatioStatistic(s["users"], s["clicked_visits"], s["clicked_visits_squared"], s["visits"],
                                     s["visits_squared"], s["clicked_visits_visits"])
    return impressions, visits


class StoreAnalysis:
    """Analyses of one event store; keeps the settled part of the replay across looks (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key = None
        self._replay: Replay | None = None
        self._settled = None  # every row before this time is in self._replay

    def analyze(self, conn, config: AnalysisConfig, covariates: pd.DataFrame | None = None,
                experiment_id: str | None = None) -> AnalysisResult:
        """The analysis of experiment ``experiment_id``'s impressions (None: every impression)."""
        cfg, eid = config, experiment_id
        arms = arm_order(store.analysed_arms(conn, eid), cfg)
        sums = store.arm_sums(conn, experiment_id=eid)
        impressions, visits = ratio_statistics(sums)
        still_open = sum(s["open"] for s in sums.values())
        dead_lettered = store.dead_lettered_count(conn)
        replay = self._replay_now(conn, arms, cfg, eid)
        horizon = units = cuts = None
        if cfg.planned_per_arm is not None:
            cuts = store.horizon_cuts(conn, arms, cfg.planned_per_arm, cfg.randomisation_unit, eid)
            horizon, _ = ratio_statistics(store.arm_sums(conn, cuts, eid))
            units = {arm: stat.n if cfg.randomisation_unit == "user" else int(stat.d_sum)
                     for arm, stat in horizon.items()}
        users = with_covariates(store.user_rows(conn, cuts, eid), covariates) if covariates is not None else None
        observations = Observations(arms=arms, ratios=impressions, visits=visits, sequential=replay.sequential(),
                                    timeline=replay.timeline(cfg.alpha), still_open=still_open,
                                    dead_lettered=dead_lettered, horizon=horizon,
                                    horizon_units=units, users=users)
        return analyze_observations(observations, cfg)

    def _replay_now(self, conn, arms: list[str], cfg: AnalysisConfig, experiment_id: str | None = None) -> Replay:
        """The replay up to the newest impression: the kept settled part, extended by what is new."""
        key = (experiment_id, tuple(arms), cfg.control, sequential_config(cfg, arms), cfg.max_points)
        with self._lock:
            if key != self._key:
                self._key, self._settled = key, None
                self._replay = Replay(arms, cfg.control, sequential_config(cfg, arms), cfg.max_points)
            settled = store.settled_until(conn, store.utcnow(), experiment_id=experiment_id)
            if self._settled is None or settled > self._settled:
                for chunk in store.stream_impressions(conn, arms, self._settled, settled, experiment_id=experiment_id):
                    self._replay.feed(*chunk)
                self._settled = settled
            latest = self._replay.copy()
            tail_start = self._settled
        for chunk in store.stream_impressions(conn, arms, tail_start, None, experiment_id=experiment_id):
            latest.feed(*chunk)
        return latest
