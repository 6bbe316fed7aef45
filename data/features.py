"""Item features for the hybrid model: genres and release decade (from the title's year)."""

from __future__ import annotations

import pandas as pd


def decade_feature(year) -> str:
    return "decade:unknown" if pd.isna(year) else f"decade:{int(year) // 10 * 10}s"


def item_features(movies: pd.DataFrame) -> dict[int, list[str]]:
    """Feature names per ``movieId``: ``genre:<name>`` for each genre and one ``decade:<1990s>``."""
    return {
        int(movie_id): [f"genre:{g}" for g in genres] + [decade_feature(year)]
        for movie_id, genres, year in zip(movies["movieId"], movies["genres"], movies["year"])
    }


def feature_vocabulary(features: dict[int, list[str]]) -> list[str]:
    """All feature names, sorted for stable ids."""
    return sorted({name for names in features.values() for name in names})
