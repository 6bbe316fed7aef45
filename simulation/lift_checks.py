"""What the simulated lift rests on, checked offline against the click model on the arms' real lists.

- :func:`offline_experiment`: an experiment as ``funflix simulate`` runs it (one user drawn uniformly
  per session, each user in one arm for the whole run, one click draw from the click model for the
  list that arm's model shows that user), read by the real analysis (:func:`funflix.experiment.analysis.analyze`,
  the always-valid test after every impression). :func:`verdict_shares` repeats it over seeds, each
  re-randomising the users as a new router salt would: with the same model in both arms (A/A) it must
  almost never ship; against a worse challenger it must say "stop: harm".
- :func:`lift_decomposition`: how much of the challenger's predicted lift comes from its fresher data
  and how much from its model.
- :func:`sensitivity`: the predicted lift when the click model's hand-set parameters change (the
  intercept is recalibrated every time, so control always earns the target CTR).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from funflix.simulation.click_calibration import ROW_SIZE, arm_lists, calibrate
from funflix.simulation.click_model import BASELINE_CTR, ClickModel
from funflix.simulation.tastes import Tastes

#: The parameters a person chose, not data: each is varied alone around its default.
SENSITIVITY_GRID = {
    "patience": (0.5, 0.65, 0.8, 0.9, 1.0),
    "future_weight": (1.0, 2.0, 4.0, 6.0),
    "genre_weight": (0.0, 1.25, 2.5, 5.0),
    "target_ctr": (0.03, 0.07, 0.11),
}


def click_probabilities(model: ClickModel, recommenders: dict, k: int = ROW_SIZE) -> dict[str, np.ndarray]:
    """Per arm, the probability that each simulated user (``model.tastes.user_ids`` order) clicks its list."""
    return {arm: model.user_ctrs(arm_lists(rec, model.tastes.user_ids, k)) for arm, rec in recommenders.items()}


@dataclass(frozen=True)
class OfflineRun:
    """One offline experiment's verdict (``decision`` about ``arm``) and what it saw."""

    decision: str
    arm: str | None
    decided_at: int | None
    impressions: dict[str, int]
    ctr: dict[str, float]


def offline_experiment(probabilities: dict[str, np.ndarray], user_ids: np.ndarray, sessions: int,
                       rng: np.random.Generator, control: str = "control") -> OfflineRun:
    """``sessions`` visits split 50/50 by user between the two arms of ``probabilities``; the analysis's verdict."""
    from funflix.experiment.analysis import AnalysisConfig, analyze

    arms = [control] + [a for a in probabilities if a != control]
    if len(arms) != 2 or control not in probabilities:
        raise ValueError(f"need exactly two arms including {control!r}, got {sorted(probabilities)}")
    if sessions < 1:
        raise ValueError(f"sessions must be >= 1, got {sessions}")
    in_challenger = rng.random(len(user_ids)) < 0.5
    visitor = rng.integers(len(user_ids), size=sessions)
    arm_of = np.where(in_challenger[visitor], 1, 0)
    p = np.where(arm_of == 1, probabilities[arms[1]][visitor], probabilities[arms[0]][visitor])
    clicked = (rng.random(sessions) < p).astype(int)
    frame = pd.DataFrame({"impression_id": np.arange(sessions), "user_id": user_ids[visitor],
                          "arm": np.array(arms)[arm_of], "clicked": clicked,
                          "created_at": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(sessions), "s")})
    result = analyze(frame, AnalysisConfig(control=control, expected_split={a: 0.5 for a in arms}))
    return OfflineRun(decision=result.verdict.decision, arm=result.verdict.arm,
                      decided_at=result.comparison(arms[1]).sequential.decided_at,
                      impressions={a.arm: a.impressions for a in result.arms}, ctr={a.arm: a.ctr for a in result.arms})


def verdict_shares(probabilities: dict[str, np.ndarray], user_ids: np.ndarray, runs: int, sessions: int,
                   seed: int = 0, progress=None) -> dict[str, float]:
    """Share of ``runs`` offline experiments ending in each decision (``progress()`` after each run)."""
    decisions = Counter()
    for run in range(runs):
        decisions[offline_experiment(probabilities, user_ids, sessions, np.random.default_rng([seed, run])).decision] += 1
        if progress is not None:
            progress()
    return {decision: count / runs for decision, count in sorted(decisions.items())}


def decomposition_arms(quick: bool = False) -> dict:
    """The 2 x 2 of architecture and data: the two real arms and the two swaps (ModelConfig per name)."""
    from funflix.models.config import CHALLENGER, CONTROL

    configs = {"control": CONTROL, "control-architecture-all-data": replace(CONTROL, name="control-all", period="all"),
               "challenger-architecture-old-data": replace(CHALLENGER, name="challenger-old", period="old"),
               "challenger": CHALLENGER}
    return {name: config.quick() if quick else config for name, config in configs.items()}


def lift_decomposition(prepared, tastes: Tastes, quick: bool = False, target: float = BASELINE_CTR) -> dict:
    """Train the 2 x 2 (:func:`decomposition_arms`), calibrate on control, predict each one's CTR and lift."""
    from funflix.models.train import train_arm

    recommenders = {name: train_arm(config, prepared.split, prepared.catalog, progress=False)[1]
                    for name, config in decomposition_arms(quick).items()}
    _, calibration = calibrate(tastes, recommenders, target=target)
    ctr = calibration.expected_ctr
    lift = calibration.expected_lift
    return {"expected_ctr": ctr, "lift": lift,
            "fresher_data": lift["control-architecture-all-data"], "model": lift["challenger-architecture-old-data"],
            "both": lift["challenger"],
            "interaction": lift["challenger"] - lift["control-architecture-all-data"] - lift["challenger-architecture-old-data"]}


def sensitivity(tastes: Tastes, recommenders: dict, grid: dict | None = None, baseline: str = "control",
                k: int = ROW_SIZE) -> list[dict]:
    """Predicted lift of every non-baseline arm with one click-model parameter changed at a time."""
    lists = {arm: arm_lists(rec, tastes.user_ids, k) for arm, rec in recommenders.items()}
    rows = []
    for parameter, values in (grid or SENSITIVITY_GRID).items():
        for value in values:
            target = value if parameter == "target_ctr" else BASELINE_CTR
            options = {} if parameter == "target_ctr" else {parameter: value}
            model = ClickModel(tastes, **options).calibrated(lists[baseline], target)
            ctr = {arm: model.mean_ctr(arm_lists_) for arm, arm_lists_ in lists.items()}
            rows.append({"parameter": parameter, "value": value, "intercept": model.intercept, "expected_ctr": ctr,
                         "lift": {arm: c / ctr[baseline] - 1 for arm, c in ctr.items() if arm != baseline}})
    return rows


def random_ranking(recommender, seed: int = 0):
    """A deliberately broken challenger: one random ranking of the whole catalogue for everyone."""
    from funflix.models.pipeline import fixed_ranking

    scores = np.random.default_rng(seed).random(recommender.n_items)
    return fixed_ranking(recommender, "random", scores, np.ones(recommender.n_items, bool))


def save_baselines(prepared, root) -> None:
    """Save the most-popular and the random ranking as servable arms beside the trained arms in ``root``."""
    from funflix.models.artifacts import load_recommender, read_metadata, save_recommender
    from funflix.models.pipeline import popularity_baseline

    challenger = load_recommender("challenger", root=root)
    metadata = {key: value for key, value in read_metadata("challenger", root=root).items()
                if key in ("data", "split", "created")}
    for baseline in (popularity_baseline(challenger, prepared), random_ranking(challenger)):
        save_recommender(baseline, {**metadata, "config": {"name": baseline.name}}, root)
