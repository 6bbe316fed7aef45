"""One id mapping (MovieLens ids <-> matrix rows) shared by both arms, and the sparse inputs of LightFM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from funflix.data.features import feature_vocabulary, item_features


@dataclass(frozen=True)
class MatrixIndex:
    """Users and items of a MovieLens release in matrix order.

    Attributes
    ----------
    user_ids : (n_users,) int64 MovieLens ``userId`` per row.
    item_ids : (n_items,) int64 ``movieId`` per column.
    features : (n_items, n_items + n_features) CSR item-feature matrix: identity, genres, decade,
        each row normalised to sum 1 as LightFM recommends.
    feature_names : names of the non-identity feature columns.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    features: sp.csr_matrix
    feature_names: list[str]

    @classmethod
    def build(cls, ratings: pd.DataFrame, movies: pd.DataFrame) -> "MatrixIndex":
        user_ids = np.unique(ratings["userId"].to_numpy())
        item_ids = np.unique(np.concatenate([movies["movieId"].to_numpy(), ratings["movieId"].to_numpy()]))
        per_item = item_features(movies)
        names = feature_vocabulary(per_item)
        column = {name: i for i, name in enumerate(names)}
        rows, cols = [], []
        for row, movie_id in enumerate(item_ids):
            for name in per_item.get(int(movie_id), []):
                rows.append(row)
                cols.append(column[name])
        n_items = len(item_ids)
        side = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_items, len(names)))
        features = sp.hstack([sp.identity(n_items, dtype=np.float32, format="csr"), side], format="csr")
        norms = np.asarray(features.sum(axis=1)).ravel()
        features = sp.diags(1.0 / norms).dot(features).astype(np.float32).tocsr()
        return cls(user_ids=user_ids, item_ids=item_ids, features=features, feature_names=names)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_rows(self, user_ids) -> np.ndarray:
        return np.searchsorted(self.user_ids, np.asarray(user_ids))

    def item_cols(self, item_ids) -> np.ndarray:
        return np.searchsorted(self.item_ids, np.asarray(item_ids))

    def matrix(self, interactions: pd.DataFrame) -> sp.csr_matrix:
        """Binary (n_users, n_items) CSR matrix of the (userId, movieId) pairs in ``interactions``."""
        rows = self.user_rows(interactions["userId"].to_numpy())
        cols = self.item_cols(interactions["movieId"].to_numpy())
        data = np.ones(len(rows), dtype=np.float32)
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(self.n_users, self.n_items))
        matrix.data[:] = 1.0  # duplicate pairs count once
        return matrix
