"""What each simulated user truly likes: their held-out future positives plus their genre affinities.

A simulated user is a real MovieLens user. The split (``funflix.data.split``) holds out each user's
latest positives; those are movies the user will in fact love, so showing one is the strongest
reason to click. Beyond them, a user leans towards the genres of the movies they liked before the
held-out period. Neither signal says anything about which model produced a list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from funflix.data.split import Split

#: Pseudo-count of the global genre mix blended into each user's genre profile (shrinks sparse profiles).
GENRE_PRIOR_STRENGTH = 5.0


@dataclass(frozen=True)
class Tastes:
    """Per-user true liking of any movie.

    Attributes
    ----------
    user_ids : (n_users,) sorted int64 ids of the simulated users (those with held-out positives).
    future : per user id, ``{movieId: rating / 5}`` of their held-out positives.
    genre_affinity : (n_users, n_genres) float in [0, 1]; 1 for each user's favourite genre.
    genres : column names of ``genre_affinity``.
    movie_genres : per movieId, the column indices of its genres.
    """

    user_ids: np.ndarray
    future: dict[int, dict[int, float]]
    genre_affinity: np.ndarray
    genres: list[str]
    movie_genres: dict[int, np.ndarray]

    @classmethod
    def from_split(cls, split: Split, movies: pd.DataFrame, prior_strength: float = GENRE_PRIOR_STRENGTH) -> "Tastes":
        """Tastes of every user with held-out positives in ``split``; ``movies`` from ``load_movies()``."""
        genres = sorted({g for names in movies["genres"] for g in names})
        column = {g: i for i, g in enumerate(genres)}
        movie_genres = {int(m): np.array([column[g] for g in names], dtype=np.int64)
                        for m, names in zip(movies["movieId"], movies["genres"])}
        future: dict[int, dict[int, float]] = {}
        for user_id, frame in split.test.groupby("userId"):
            future[int(user_id)] = dict(zip(frame["movieId"].astype(int), frame["rating"].astype(float) / 5.0))
        user_ids = np.array(sorted(future), dtype=np.int64)
        row = {u: i for i, u in enumerate(user_ids)}

        counts = np.zeros((len(user_ids), len(genres)))
        liked = split.train[split.train["userId"].isin(row)]
        for user_id, movie_id in zip(liked["userId"].to_numpy(), liked["movieId"].to_numpy()):
            counts[row[int(user_id)], movie_genres.get(int(movie_id), [])] += 1.0
        overall = counts.sum(axis=0) + 1.0
        prior = overall / overall.sum()
        share = (counts + prior_strength * prior) / (counts.sum(axis=1, keepdims=True) + prior_strength)
        affinity = share / share.max(axis=1, keepdims=True)
        return cls(user_ids, future, affinity, genres, movie_genres)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def _row(self, user_id: int) -> int:
        row = int(np.searchsorted(self.user_ids, user_id))
        if row >= len(self.user_ids) or self.user_ids[row] != user_id:
            raise ValueError(f"user {user_id} is not a simulated user (no held-out positives)")
        return row

    def liking(self, user_id: int, items) -> tuple[np.ndarray, np.ndarray]:
        """``(future, genre)`` liking of each of ``items`` for ``user_id``, both (len(items),) in [0, 1].

        ``future`` is rating/5 for the user's held-out positives and 0 otherwise; ``genre`` is the mean
        affinity of the user for the movie's genres (0 for unknown movies or movies without genres).
        """
        affinity = self.genre_affinity[self._row(int(user_id))]
        future = self.future[int(user_id)]
        items = [int(i) for i in items]
        genre = np.array([affinity[self.movie_genres[m]].mean() if len(self.movie_genres.get(m, ())) else 0.0
                          for m in items])
        return np.array([future.get(m, 0.0) for m in items]), genre
