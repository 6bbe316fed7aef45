"""MovieLens-shaped synthetic data for scale benchmarks (up to ML-25M: 162k users, 62k movies, 25M ratings).

Item popularity follows a power law, user activity is log-normal, each user prefers a few
genres and rates movies of those genres higher; timestamps span the years MovieLens does.
Output has the exact ``ratings.csv`` / ``movies.csv`` layout, so every loader works on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
FIRST_TS, LAST_TS = 828_000_000, 1_575_000_000  # 1996 .. 2019, as in ML-25M


def synthetic_movies(n_items: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Movies with 1-3 genres and a release year; also the genre-membership matrix (items x genres)."""
    n_genres = rng.integers(1, 4, size=n_items)
    membership = np.zeros((n_items, len(GENRES)), dtype=bool)
    weights = np.linspace(2.0, 0.3, len(GENRES))
    weights /= weights.sum()
    for count in (1, 2, 3):
        rows = np.flatnonzero(n_genres >= count)
        membership[rows, rng.choice(len(GENRES), size=len(rows), p=weights)] = True
    years = rng.integers(1920, 2020, size=n_items)
    genres = ["|".join(GENRES[j] for j in np.flatnonzero(row)) for row in membership]
    titles = [f"Synthetic Movie {i} ({y})" for i, y in zip(range(1, n_items + 1), years)]
    movies = pd.DataFrame({"movieId": np.arange(1, n_items + 1), "title": titles, "genres": genres})
    return movies, membership


def synthetic_ratings(
    n_users: int = 610, n_items: int = 9742, n_ratings: int = 100_836, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings and movies with MovieLens's columns; each (user, movie) pair at most once."""
    if min(n_users, n_items, n_ratings) <= 0:
        raise ValueError("n_users, n_items and n_ratings must be positive")
    if n_ratings > 0.5 * n_users * n_items:
        raise ValueError(f"{n_ratings} ratings is too dense for {n_users} users x {n_items} items")
    rng = np.random.default_rng(seed)
    movies, membership = synthetic_movies(n_items, rng)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity = rng.permutation(popularity / popularity.sum())
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    activity /= activity.sum()

    pairs = np.empty(0, dtype=np.int64)
    while len(pairs) < n_ratings:
        need = int((n_ratings - len(pairs)) * 1.1) + 16
        users = rng.choice(n_users, size=need, p=activity)
        items = rng.choice(n_items, size=need, p=popularity)
        pairs = np.unique(np.concatenate([pairs, users.astype(np.int64) * n_items + items]))
    pairs = rng.permutation(pairs)[:n_ratings]
    users, items = np.divmod(pairs, n_items)

    taste = rng.random((n_users, len(GENRES))) < 0.25  # each user likes ~a quarter of the genres
    liked = (taste[users] & membership[items]).any(axis=1)
    raw = rng.normal(3.0 + 1.2 * liked, 0.9)
    rating = np.clip(np.round(raw * 2) / 2, 0.5, 5.0).astype(np.float32)
    start = rng.integers(FIRST_TS, LAST_TS, size=n_users)
    timestamp = start[users] + rng.exponential(86_400 * 30, size=n_ratings).astype(np.int64)
    ratings = pd.DataFrame(
        {"userId": users + 1, "movieId": items + 1, "rating": rating, "timestamp": np.minimum(timestamp, LAST_TS)}
    ).sort_values(["userId", "timestamp"], kind="stable", ignore_index=True)
    return ratings, movies


def write_synthetic(folder: Path, **sizes) -> Path:
    """Write ``ratings.csv`` and ``movies.csv`` of a synthetic release into ``folder``."""
    ratings, movies = synthetic_ratings(**sizes)
    folder.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(folder / "ratings.csv", index=False)
    movies.to_csv(folder / "movies.csv", index=False)
    return folder
