"""Serving-time recommender: top-k from precomputed LightFM embeddings, no LightFM call on the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

Strategy = Literal["personal", "popularity", "features", "similar"]


def top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` highest scores in each row, best first.

    Parameters
    ----------
    scores : (n_rows, n_columns) array; ``-inf`` marks columns that must not be chosen.
    k : list length; at most ``n_columns`` columns are returned.

    Returns
    -------
    (n_rows, min(k, n_columns)) int64 array. Equal scores rank by column (items are sorted by
    movieId, so the lower movieId wins), also at the k-th place, so the result is deterministic.
    Rows with fewer than ``k`` finite scores end in ``-inf`` columns: callers drop those.

    Exact without sorting whole rows: the k-th highest score of an evenly strided sample of
    ``sqrt(n_columns * k)`` columns cannot exceed the row's own k-th highest, so the columns
    scoring at least that (about ``sqrt(n_columns * k)`` per row) hold the row's top k; only
    they are sorted. Rows where ties or ``-inf`` make that set large are sorted whole.
    """
    n_rows, n_columns = scores.shape
    k = min(k, n_columns)
    stride = max(1, int(np.sqrt(n_columns / k)))
    sample = scores[:, ::stride]
    floor = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k, np.newaxis]
    rows, columns = np.nonzero(scores >= floor)  # row-major: each row's columns ascending
    counts = np.bincount(rows, minlength=n_rows)
    top = np.empty((n_rows, k), dtype=np.int64)
    wide = counts > 8 * k * stride
    for row in np.flatnonzero(wide):
        top[row] = np.argsort(-scores[row], kind="stable")[:k]
    keep = ~wide[rows]
    rows, columns = rows[keep], columns[keep]
    counts[wide] = 0
    position = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    candidates = np.full((n_rows, max(k, counts.max())), np.inf, dtype=np.float64)
    candidates[rows, position] = -scores[rows, columns]
    columns_at = np.zeros(candidates.shape, dtype=np.int64)
    columns_at[rows, position] = columns
    best = np.argsort(candidates, axis=1, kind="stable")[:, :k]  # stable: equal scores keep column order
    top[~wide] = np.take_along_axis(columns_at, best, axis=1)[~wide]
    return top


@dataclass(frozen=True)
class Recommendation:
    """A ranked list: ``items`` (movieIds, best first) with their ``scores`` and how it was made."""

    items: list[int]
    scores: list[float]
    strategy: Strategy


class Recommender:
    """Top-k recommendations of one trained arm.

    Parameters
    ----------
    name, version : the arm's model name and artifact version.
    user_ids : (n_users,) sorted int64 MovieLens user ids (rows of ``seen`` and ``user_embeddings``).
    item_ids : (n_items,) sorted int64 movieIds.
    user_embeddings : (n_users, d) float32 LightFM user representations.
    item_embeddings : (n_items, d) float32 item representations (features applied for hybrids).
    item_biases : (n_items,) float32.
    known_users : (n_users,) bool, users the model was trained on; others get the cold-start list.
    candidates : (n_items,) bool, items the model may recommend (those it learnt something about).
    seen : (n_users, n_items) CSR, each user's history; never recommended again.
    popularity : (n_items,) float32 positives per item in the model's training data.
    item_genres : (n_items, n_genres) CSR 0/1 genre membership, ``genres`` its column names.
    """

    def __init__(self, name, version, user_ids, item_ids, user_embeddings, item_embeddings, item_biases,
                 known_users, candidates, seen, popularity, item_genres, genres):
        self.name = name
        self.version = version
        self.user_ids = np.asarray(user_ids, dtype=np.int64)
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.user_embeddings = np.ascontiguousarray(user_embeddings, dtype=np.float32)
        self.item_embeddings = np.ascontiguousarray(item_embeddings, dtype=np.float32)
        self.item_biases = np.asarray(item_biases, dtype=np.float32)
        self.known_users = np.asarray(known_users, dtype=bool)
        self.candidates = np.asarray(candidates, dtype=bool)
        self.seen = sp.csr_matrix(seen)
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.item_genres = sp.csr_matrix(item_genres)
        self.genres = list(genres)
        norms = np.linalg.norm(self.item_embeddings, axis=1, keepdims=True)
        self._unit_items = self.item_embeddings / np.maximum(norms, 1e-12)
        self._popular_order = np.lexsort((self.item_ids, -self.popularity))
        self._popular_order = self._popular_order[self.candidates[self._popular_order]]

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def _user_row(self, user_id: int) -> int | None:
        row = int(np.searchsorted(self.user_ids, user_id))
        return row if row < len(self.user_ids) and self.user_ids[row] == user_id else None

    def _check_k(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.n_items:
            raise ValueError(f"k must be an integer in [1, {self.n_items}], got {k!r}")

    def top_k(self, scores: np.ndarray, k: int, exclude: np.ndarray | None, strategy: Strategy) -> Recommendation:
        scores = np.where(self.candidates, scores, -np.inf)
        if exclude is not None and len(exclude):
            scores[exclude] = -np.inf
        top = top_k_columns(scores[np.newaxis], k)[0]
        top = top[np.isfinite(scores[top])]
        return Recommendation(self.item_ids[top].tolist(), scores[top].astype(float).tolist(), strategy)

    def scores(self, user_row: int) -> np.ndarray:
        """LightFM's ranking score of every item for one user row (user bias omitted: it does not change ranks)."""
        return self.item_embeddings @ self.user_embeddings[user_row] + self.item_biases

    def user_scores(self, user_id: int, genres: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, Strategy]:
        """Scores of every item for ``user_id``, the item columns to exclude (history) and the strategy.

        Users the model was not trained on get cold-start scores: ``"features"`` when ``genres``
        describe them, ``"popularity"`` otherwise.
        """
        row = self._user_row(int(user_id))
        seen = self.seen.indices[self.seen.indptr[row]:self.seen.indptr[row + 1]] if row is not None else np.empty(0, int)
        if row is not None and self.known_users[row]:
            return self.scores(row), seen, "personal"
        if genres:
            return self._genre_scores(genres), seen, "features"
        return self.popularity, seen, "popularity"

    def recommend(self, user_id: int, k: int = 10, genres: list[str] | None = None) -> Recommendation:
        """Top-``k`` items for ``user_id`` that are not in their history (see :meth:`user_scores`)."""
        self._check_k(k)
        scores, seen, strategy = self.user_scores(user_id, genres)
        return self.top_k(scores, k, seen, strategy)

    def _genre_scores(self, genres: list[str]) -> np.ndarray:
        unknown = sorted(set(genres) - set(self.genres))
        if unknown:
            raise ValueError(f"unknown genre(s) {unknown}; known: {', '.join(self.genres)}")
        columns = [self.genres.index(g) for g in genres]
        in_genres = np.asarray(self.item_genres[:, columns].sum(axis=1)).ravel() > 0
        liked = self._popular_order[in_genres[self._popular_order]][:50]
        taste = self.item_embeddings[liked].mean(axis=0)
        return self.item_embeddings @ taste + self.item_biases

    def _item_col(self, movie_id: int) -> int:
        col = int(np.searchsorted(self.item_ids, movie_id))
        if col >= self.n_items or self.item_ids[col] != movie_id:
            raise ValueError(f"unknown movie id {movie_id}")
        return col

    def similar_items(self, movie_id: int, k: int = 10) -> Recommendation:
        """Items whose embeddings are closest (cosine) to ``movie_id``'s, the item itself excluded."""
        self._check_k(k)
        col = self._item_col(int(movie_id))
        return self.top_k(self._unit_items @ self._unit_items[col], k, np.array([col]), "similar")

    def users_for_item(self, movie_id: int, k: int = 10) -> tuple[list[int], list[float]]:
        """The ``k`` known users most likely to want ``movie_id`` who have not seen it."""
        col = self._item_col(int(movie_id))
        if not 1 <= k <= len(self.user_ids):
            raise ValueError(f"k must be in [1, {len(self.user_ids)}], got {k}")
        scores = self.user_embeddings @ self.item_embeddings[col]
        scores[~self.known_users] = -np.inf
        scores[self.seen[:, col].nonzero()[0]] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argsort(-scores, kind="stable")[:k]
        return self.user_ids[top].tolist(), scores[top].astype(float).tolist()
