"""Candidate rankers of different quality for offline experiments and the tournament.

Beside the two arms (``control``, ``challenger``) and popularity: the challenger with fewer epochs,
with fewer components, and without item features, all from ``models/config.py`` by ``replace``.
"""

from __future__ import annotations

from dataclasses import replace

from tqdm import tqdm

from funflix.models.config import CHALLENGER, CONTROL, ModelConfig
from funflix.models.pipeline import Prepared, popularity_baseline
from funflix.models.recommender import Recommender
from funflix.models.train import train_arm

VARIANTS: dict[str, ModelConfig] = {config.name: config for config in (
    CONTROL,
    CHALLENGER,
    replace(CHALLENGER, name="challenger-3-epochs", epochs=3),
    replace(CHALLENGER, name="challenger-4-components", no_components=4),
    replace(CHALLENGER, name="challenger-no-features", item_features=False),
)}
POPULARITY = "popularity"


def train_rankers(prepared: Prepared, names: list[str] | None = None, progress: bool = True,
                  quick: bool = False) -> dict[str, Recommender]:
    """Train the named variants (default: all) plus ``popularity``; one progress bar over them.
    ``quick`` trains each with its small, fast config (``ModelConfig.quick``) for tests and smoke runs."""
    names = list(VARIANTS) + [POPULARITY] if names is None else names
    unknown = sorted(set(names) - set(VARIANTS) - {POPULARITY})
    if unknown:
        raise ValueError(f"unknown ranker(s) {unknown}; known: {', '.join([*VARIANTS, POPULARITY])}")
    trained: dict[str, Recommender] = {}
    for name in tqdm([n for n in names if n != POPULARITY], desc="train rankers", unit="model", disable=not progress):
        config = VARIANTS[name].quick() if quick else VARIANTS[name]
        trained[name] = train_arm(config, prepared.split, prepared.catalog, version="offline", progress=False)[1]
    if POPULARITY in names:
        base = trained.get(CHALLENGER.name) or train_arm(CHALLENGER.quick(), prepared.split, prepared.catalog,
                                                         version="offline", progress=False)[1]
        trained[POPULARITY] = popularity_baseline(base, prepared)
    return {name: trained[name] for name in names}
