"""Calibrate the click model offline against the arms' real lists, and predict each arm's CTR.

The calibration constant is set so that the baseline arm's lists (from its trained artifact, the
same lists the site shows) earn the target CTR in expectation over the simulated users. The same
calibrated model then predicts every other arm's CTR: the expected online lift.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from funflix.simulation.click_model import BASELINE_CTR, ClickModel
from funflix.simulation.tastes import Tastes

log = logging.getLogger(__name__)

#: Items in the site's "Recommended for you" row (the website's ``RECS_K``).
ROW_SIZE = 10


@dataclass(frozen=True)
class Calibration:
    """How a run's click model was calibrated and what it predicts per arm."""

    baseline: str
    target_ctr: float
    intercept: float
    patience: float
    k: int
    n_users: int
    expected_ctr: dict[str, float]
    versions: dict[str, str]

    @property
    def expected_lift(self) -> dict[str, float]:
        """Relative lift over the baseline arm predicted for each other arm."""
        base = self.expected_ctr[self.baseline]
        return {arm: ctr / base - 1 for arm, ctr in self.expected_ctr.items() if arm != self.baseline}

    def to_dict(self) -> dict:
        return {**asdict(self), "expected_lift": self.expected_lift}


def arm_lists(recommender, user_ids, k: int) -> dict[int, list[int]]:
    """Each user's top-``k`` list from ``recommender`` (exactly what serving returns for them)."""
    return {int(u): recommender.recommend(int(u), k).items for u in user_ids}


def calibrate(tastes: Tastes, recommenders: dict, baseline: str = "control", target: float = BASELINE_CTR,
              k: int = ROW_SIZE, **model_options) -> tuple[ClickModel, Calibration]:
    """Calibrate a :class:`ClickModel` on ``recommenders[baseline]``'s lists; predict every arm's CTR.

    ``recommenders`` maps arm name to an object with ``recommend(user_id, k).items`` and ``version``
    (a :class:`funflix.models.recommender.Recommender`); ``model_options`` go to :class:`ClickModel`.
    """
    if baseline not in recommenders:
        raise ValueError(f"baseline arm {baseline!r} is not among the arms {sorted(recommenders)}")
    lists = {arm: arm_lists(rec, tastes.user_ids, k) for arm, rec in recommenders.items()}
    model = ClickModel(tastes, **model_options).calibrated(lists[baseline], target)
    expected = {arm: model.mean_ctr(arm_lists_) for arm, arm_lists_ in lists.items()}
    calibration = Calibration(baseline=baseline, target_ctr=target, intercept=model.intercept, patience=model.patience,
                              k=k, n_users=tastes.n_users, expected_ctr=expected,
                              versions={arm: str(getattr(rec, "version", "")) for arm, rec in recommenders.items()})
    log.info("click model calibrated: intercept %.4f; expected CTR %s", model.intercept,
             ", ".join(f"{arm} {ctr:.4f}" for arm, ctr in expected.items()))
    return model, calibration


def load_arms(models_root=None, arms: dict[str, str] | None = None) -> dict:
    """Recommenders per arm: ``arms`` maps arm name to ``"model"`` or ``"model@version"`` (default: the
    experiment's arms from ``charts/funflix/values.yaml``)."""
    from funflix.models.artifacts import load_recommender

    if arms is None:
        from funflix.serving.experiment_config import load_experiment

        arms = {arm.name: f"{arm.model}@{arm.version}" for arm in load_experiment().arms}
    loaded = {}
    for arm, spec in arms.items():
        model, _, version = spec.partition("@")
        loaded[arm] = load_recommender(model, version or "latest", root=models_root)
    return loaded


def tastes_for(models_root=None, model: str = "control") -> Tastes:
    """Tastes from the same MovieLens data and split the trained ``model`` was made from."""
    from funflix.models.artifacts import read_metadata
    from funflix.models.pipeline import prepare

    data = read_metadata(model, root=models_root)["data"]
    prepared = prepare(data["dataset"], data["path"], data["threshold"], data["test_fraction"], data["old_fraction"])
    if prepared.checksum != data["checksum"]:
        raise ValueError("the MovieLens data differs from the data the models were trained on; retrain with `funflix train`")
    return Tastes.from_split(prepared.split, prepared.movies)


def calibrated_click_model(models_root=None, arms: dict[str, str] | None = None, baseline: str = "control",
                           target: float = BASELINE_CTR, k: int = ROW_SIZE, **model_options) -> tuple[ClickModel, Calibration]:
    """The run's click model from trained artifacts: tastes, arms' lists, calibration (about 2 s)."""
    recommenders = load_arms(models_root, arms)
    if baseline not in recommenders:
        raise ValueError(f"baseline arm {baseline!r} is not among the arms {sorted(recommenders)}")
    model_name = recommenders[baseline].name
    return calibrate(tastes_for(models_root, model_name), recommenders, baseline, target, k, **model_options)
