"""Hyperparameters of the two arms. The control is production: pure collaborative filtering on
the older training period. The challenger is a hybrid with item features trained on all of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class ModelConfig:
    """One arm's model.

    Parameters
    ----------
    name : arm model name ("control", "challenger"); also the artifact folder.
    period : "old" trains on ``Split.train_old``, "all" on ``Split.train``.
    item_features : hybrid LightFM with genre and decade features (plus per-item identity).
    loss, no_components, learning_rate, item_alpha, user_alpha, max_sampled : LightFM parameters.
    epochs : passes over the training interactions.
    random_state : seed; training with the same data and seed gives the same model.
    """

    name: str
    period: Literal["old", "all"] = "all"
    item_features: bool = False
    loss: Literal["warp", "bpr", "warp-kos", "logistic"] = "warp"
    no_components: int = 32
    learning_rate: float = 0.05
    item_alpha: float = 0.0
    user_alpha: float = 0.0
    max_sampled: int = 10
    epochs: int = 30
    random_state: int = 42

    def __post_init__(self):
        if self.period not in ("old", "all"):
            raise ValueError(f"period must be 'old' or 'all', got {self.period!r}")
        if self.no_components < 1 or self.epochs < 1 or self.learning_rate <= 0:
            raise ValueError("no_components and epochs must be >= 1 and learning_rate > 0")

    def quick(self) -> "ModelConfig":
        """A small, fast variant for tests and smoke runs."""
        return replace(self, no_components=16, epochs=5)

    def to_dict(self) -> dict:
        return asdict(self)


CONTROL = ModelConfig(name="control", period="old", item_features=False)
CHALLENGER = ModelConfig(name="challenger", period="all", item_features=True)
ARMS = {config.name: config for config in (CONTROL, CHALLENGER)}
