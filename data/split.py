"""Implicit positives and the business-case split of MovieLens ratings.

Each user's latest positives (rating >= threshold) are held out: they are the offline test
set and the "true future tastes" of simulated users. Everything a user rated before their
held-out period is their history. The training period is cut once in time: the production
("control") model only saw its older part; the challenger sees all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Split:
    """Training, history and held-out interactions (columns of ``ratings.csv``).

    Attributes
    ----------
    train : positives before each user's held-out period (the challenger's training data).
    train_old : the part of ``train`` before ``cutoff`` (the control's training data).
    history : every rating (any value) before each user's held-out period; never recommended again.
    test : held-out positives, each user's latest ``test_fraction``.
    cutoff : timestamp splitting the training period into old and recent.
    threshold : minimum rating counted as a positive.
    """

    train: pd.DataFrame
    train_old: pd.DataFrame
    history: pd.DataFrame
    test: pd.DataFrame
    cutoff: int
    threshold: float

    def summary(self) -> dict:
        def users(frame: pd.DataFrame) -> int:
            return int(frame["userId"].nunique())

        return {
            "threshold": self.threshold,
            "cutoff": int(self.cutoff),
            "cutoff_date": pd.Timestamp(self.cutoff, unit="s").strftime("%Y-%m-%d"),
            "train_positives": len(self.train),
            "train_old_positives": len(self.train_old),
            "history_ratings": len(self.history),
            "test_positives": len(self.test),
            "train_users": users(self.train),
            "train_old_users": users(self.train_old),
            "test_users": users(self.test),
        }


def split_interactions(
    ratings: pd.DataFrame, threshold: float = 4.0, test_fraction: float = 0.2, old_fraction: float = 0.5
) -> Split:
    """Per-user chronological hold-out plus one global cut of the training period.

    Parameters
    ----------
    ratings : DataFrame with ``userId, movieId, rating, timestamp``.
    threshold : ratings at or above it are positives.
    test_fraction : share of each user's positives held out (rounded up; users with one positive keep it for training).
    old_fraction : quantile of training timestamps where the control's data ends.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0 < old_fraction < 1:
        raise ValueError(f"old_fraction must be in (0, 1), got {old_fraction}")
    ordered = ratings.sort_values(["userId", "timestamp", "movieId"], kind="stable").reset_index(drop=True)
    positive = ordered["rating"].to_numpy() >= threshold
    positives = ordered[positive]
    n_pos = positives.groupby("userId")["movieId"].transform("size").to_numpy()
    rank_from_end = positives.groupby("userId").cumcount(ascending=False).to_numpy()
    n_test = np.where(n_pos >= 2, np.ceil(n_pos * test_fraction), 0)
    held_out = rank_from_end < n_test
    test = positives[held_out]
    if test.empty:
        raise ValueError("no user has two or more positives: nothing to hold out")

    # A user's held-out period starts at their first held-out positive; all earlier ratings are history.
    test_start = test.groupby("userId")["timestamp"].min()
    starts = ordered["userId"].map(test_start).to_numpy(dtype=float, na_value=np.inf)
    is_test = np.zeros(len(ordered), dtype=bool)
    is_test[np.flatnonzero(positive)[held_out]] = True
    in_history = ~is_test & (ordered["timestamp"].to_numpy() <= starts)
    history = ordered[in_history]
    train = ordered[in_history & positive]
    cutoff = int(np.quantile(train["timestamp"].to_numpy(), old_fraction))
    train_old = train[train["timestamp"].to_numpy() < cutoff]
    return Split(
        train=train.reset_index(drop=True),
        train_old=train_old.reset_index(drop=True),
        history=history.reset_index(drop=True),
        test=test.reset_index(drop=True),
        cutoff=cutoff,
        threshold=threshold,
    )
