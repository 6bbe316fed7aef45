"""Offline evaluation on the held-out period: ranking metrics per user, bootstrap intervals over users."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from funflix.models.recommender import Recommender

RANKING_METRICS = ("precision", "recall", "map", "ndcg")
PER_USER_METRICS = (*RANKING_METRICS, "auc", "novelty")


def ranking_metrics(hits: np.ndarray, n_relevant: int, k: int) -> dict[str, float]:
    """Precision, recall, AP and nDCG at ``k`` for one list.

    Parameters
    ----------
    hits : (<=k,) bool, whether each ranked item (best first) is relevant.
    n_relevant : number of relevant (held-out) items of the user.
    """
    hits = np.asarray(hits, dtype=float)[:k]
    positions = np.arange(1, len(hits) + 1)
    cutoff = min(n_relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    return {
        "precision": hits.sum() / k,
        "recall": hits.sum() / n_relevant,
        "map": float((np.cumsum(hits) / positions * hits).sum() / cutoff),
        "ndcg": float((hits * discounts[: len(hits)]).sum() / discounts[:cutoff].sum()),
    }


def auc(scores: np.ndarray, positive: np.ndarray, eligible: np.ndarray) -> float:
    """Probability a held-out item outranks a non-relevant eligible item (ties count half)."""
    s = scores[eligible]
    pos = positive[eligible]
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.nan_to_num(s, neginf=-1e30))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate_users(recommender: Recommender, test: pd.DataFrame, item_popularity: np.ndarray, n_train_users: int,
                   k: int = 10) -> tuple[pd.DataFrame, set[int]]:
    """Per-user metrics of ``recommender`` on held-out positives ``test``.

    Parameters
    ----------
    item_popularity : (n_items,) training positives per item, for novelty (-log2 of the share of users).
    n_train_users : users in the training data, the denominator of that share.

    Returns
    -------
    (per-user DataFrame indexed by userId with PER_USER_METRICS and ``strategy``, set of recommended movieIds)
    """
    rows, shown = [], set()
    cols = np.searchsorted(recommender.item_ids, test["movieId"].to_numpy())
    self_info = -np.log2((item_popularity + 1.0) / (n_train_users + 1.0))
    for user_id, user_cols in pd.Series(cols, index=test["userId"].to_numpy()).groupby(level=0):
        relevant = np.zeros(recommender.n_items, dtype=bool)
        relevant[user_cols.to_numpy()] = True
        scores, seen, strategy = recommender.user_scores(int(user_id))
        top = recommender.top_k(scores, k, seen, strategy)
        top_cols = np.searchsorted(recommender.item_ids, top.items)
        shown.update(top.items)
        eligible = np.ones(recommender.n_items, dtype=bool)
        eligible[seen] = False
        metrics = ranking_metrics(relevant[top_cols], int(relevant.sum()), k)
        metrics.update(auc=auc(np.where(recommender.candidates, scores, -np.inf), relevant, eligible),
                       novelty=float(self_info[top_cols].mean()), strategy=strategy, userId=int(user_id))
        rows.append(metrics)
    return pd.DataFrame(rows).set_index("userId"), shown


def bootstrap_means(values: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Mean of ``values`` with a percentile bootstrap interval over users."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(values.mean()), "lo": float(lo), "hi": float(hi)}


def compare(per_user: dict[str, pd.DataFrame], baseline: str, candidate: str, coverage: dict[str, float],
            n_boot: int = 1000, seed: int = 0) -> dict:
    """Side-by-side metrics with bootstrap intervals, and the paired difference candidate - baseline."""
    users = per_user[baseline].index.intersection(per_user[candidate].index)
    report = {"users": int(len(users)), "metrics": {}}
    for metric in PER_USER_METRICS:
        entry = {name: bootstrap_means(frame.loc[users, metric].to_numpy(), n_boot, seed=seed) for name, frame in per_user.items()}
        diff = per_user[candidate].loc[users, metric].to_numpy() - per_user[baseline].loc[users, metric].to_numpy()
        entry["difference"] = bootstrap_means(diff, n_boot, seed=seed)
        report["metrics"][metric] = entry
    report["coverage"] = coverage
    return report
