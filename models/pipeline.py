"""The offline pipeline: load MovieLens, split, train both arms, save artifacts, evaluate."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from funflix.data.movielens import load_movies, load_ratings
from funflix.data.split import Split, split_interactions
from funflix.models import evaluation
from funflix.models.artifacts import latest_version, load_recommender, read_metadata, save_recommender
from funflix.models.config import ARMS, ModelConfig
from funflix.models.dataset import MatrixIndex
from funflix.models.recommender import Recommender
from funflix.models.train import train_arm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """Everything derived from one MovieLens release and split settings."""

    ratings: pd.DataFrame
    movies: pd.DataFrame
    split: Split
    catalog: MatrixIndex
    checksum: str
    source: dict


def data_checksum(ratings: pd.DataFrame, movies: pd.DataFrame) -> str:
    """SHA-256 over the loaded content (not the file bytes, so CRLF/LF copies agree)."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(ratings, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(movies[["movieId", "title"]], index=False).to_numpy().tobytes())
    return digest.hexdigest()


def prepare(dataset: str = "ml-latest-small", path: str | Path | None = None, threshold: float = 4.0,
            test_fraction: float = 0.2, old_fraction: float = 0.5) -> Prepared:
    ratings = load_ratings(path, dataset)
    movies = load_movies(path, dataset)
    split = split_interactions(ratings, threshold, test_fraction, old_fraction)
    source = {"dataset": dataset, "path": str(path) if path else None, "threshold": threshold,
              "test_fraction": test_fraction, "old_fraction": old_fraction}
    return Prepared(ratings, movies, split, MatrixIndex.build(ratings, movies), data_checksum(ratings, movies), source)


def new_version(config: ModelConfig, checksum: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    tag = hashlib.sha256(f"{sorted(config.to_dict().items())}{checksum}".encode()).hexdigest()[:8]
    return f"v{stamp}-{tag}"


def offline_metrics(recommender: Recommender, prepared: Prepared, k: int = 10) -> dict[str, float]:
    """Mean precision, recall, MAP and nDCG at ``k`` and AUC over the held-out users."""
    per_user, _ = evaluation.evaluate_users(recommender, prepared.split.test, np.zeros(recommender.n_items), 1, k)
    metrics = {f"{name}@{k}": float(per_user[name].mean()) for name in evaluation.RANKING_METRICS}
    return {**metrics, "auc": float(per_user["auc"].mean())}


def train_and_save(prepared: Prepared, configs: list[ModelConfig], root: str | Path | None = None,
                   progress: bool = True, publish: bool | None = None) -> dict[str, dict]:
    """Train each config and save it as a new version of its arm; return each arm's metadata.

    ``publish`` moves the arm's ``LATEST`` to the new version; the default (None) does so only
    for an arm that has no ``LATEST`` yet, so retraining leaves what is served alone.
    """
    saved = {}
    for config in configs:
        version = new_version(config, prepared.checksum)
        _, recommender = train_arm(config, prepared.split, prepared.catalog, version=version, progress=progress)
        previous = latest_version(config.name, root)
        published = publish if publish is not None else previous is None
        metadata = {
            "config": config.to_dict(), "data": {**prepared.source, "checksum": prepared.checksum},
            "split": prepared.split.summary(), "created": datetime.now(timezone.utc).isoformat(),
            "metrics": offline_metrics(recommender, prepared),
        }
        folder = save_recommender(recommender, metadata, root, publish=published)
        log.info("saved %s %s (P@10 %.4f) to %s%s", config.name, version, metadata["metrics"]["precision@10"], folder,
                 " and published it" if published else "")
        saved[config.name] = {**metadata, "path": str(folder), "version": version, "published": published,
                              "latest": version if published else previous}
    return saved


def train_quick(root: str | Path, prepared: Prepared | None = None) -> Path:
    """Both arms with their quick configs (tests, benchmarks, smoke runs) into artifact root ``root``."""
    train_and_save(prepared or prepare(), [config.quick() for config in ARMS.values()], root, progress=False)
    return Path(root)


def popularity_baseline(recommender: Recommender, prepared: Prepared) -> Recommender:
    """Most-popular over the full training period, with the same history exclusion as the arms."""
    counts = np.asarray(prepared.catalog.matrix(prepared.split.train).sum(axis=0)).ravel()
    return Recommender("popularity", "baseline", recommender.user_ids, recommender.item_ids,
                       recommender.user_embeddings, recommender.item_embeddings, recommender.item_biases,
                       np.zeros(len(recommender.user_ids), bool), counts > 0, recommender.seen, counts,
                       recommender.item_genres, recommender.genres)


def evaluate_arms(root: str | Path | None = None, k: int = 10, n_boot: int = 1000, baseline: str = "control",
                  candidate: str = "challenger", path: str | Path | None = None) -> dict:
    """Evaluate the latest artifacts of both arms on the held-out period they were split with."""
    meta = read_metadata(candidate, root=root)
    data = meta["data"]
    prepared = prepare(data["dataset"], path or data["path"], data["threshold"], data["test_fraction"], data["old_fraction"])
    if prepared.checksum != data["checksum"]:
        raise ValueError("the MovieLens data differs from the data the models were trained on; retrain with `funflix train`")
    models = {name: load_recommender(name, root=root) for name in (baseline, candidate)}
    models["popularity"] = popularity_baseline(models[candidate], prepared)
    train_matrix = prepared.catalog.matrix(prepared.split.train)
    popularity = np.asarray(train_matrix.sum(axis=0)).ravel()
    n_users = int((train_matrix.getnnz(axis=1) > 0).sum())
    per_user, coverage = {}, {}
    for name, model in models.items():
        per_user[name], shown = evaluation.evaluate_users(model, prepared.split.test, popularity, n_users, k)
        coverage[name] = len(shown) / model.n_items
    report = evaluation.compare(per_user, baseline, candidate, coverage, n_boot=n_boot)
    report.update(k=k, versions={name: models[name].version for name in (baseline, candidate)},
                  cold_start_users={name: int((frame["strategy"] != "personal").sum()) for name, frame in per_user.items()},
                  split=prepared.split.summary(), baseline=baseline, candidate=candidate)
    return report
