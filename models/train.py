"""Train one arm with LightFM and turn it into a :class:`Recommender`."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM
from tqdm import tqdm

from funflix.data.split import Split
from funflix.models.config import ModelConfig
from funflix.models.dataset import MatrixIndex
from funflix.models.recommender import Recommender

log = logging.getLogger(__name__)


def fit_lightfm(config: ModelConfig, interactions: sp.csr_matrix, item_features: sp.csr_matrix | None,
                num_threads: int = 1, progress: bool = True) -> LightFM:
    """Fit a fresh LightFM model epoch by epoch (with a progress bar); seeded by ``config.random_state``."""
    model = LightFM(
        no_components=config.no_components, loss=config.loss, learning_rate=config.learning_rate,
        item_alpha=config.item_alpha, user_alpha=config.user_alpha, max_sampled=config.max_sampled,
        random_state=np.random.RandomState(config.random_state),
    )
    coo = interactions.tocoo()
    for _ in tqdm(range(config.epochs), desc=f"train {config.name}", unit="epoch", disable=not progress, leave=False):
        model.fit_partial(coo, item_features=item_features, epochs=1, num_threads=num_threads)
    return model


def train_arm(config: ModelConfig, split: Split, catalog: MatrixIndex, version: str = "unversioned",
              num_threads: int = 1, progress: bool = True) -> tuple[LightFM, Recommender]:
    """Train ``config`` on its period of ``split``; return the LightFM model and its recommender."""
    data = split.train_old if config.period == "old" else split.train
    interactions = catalog.matrix(data)
    features = catalog.features if config.item_features else None
    log.info("training %s on %d positives of %d users (%s period)", config.name, interactions.nnz,
             int((interactions.getnnz(axis=1) > 0).sum()), config.period)
    model = fit_lightfm(config, interactions, features, num_threads=num_threads, progress=progress)
    return model, to_recommender(model, config, interactions, split, catalog, version)


def genre_matrix(catalog: MatrixIndex) -> tuple[sp.csr_matrix, list[str]]:
    """0/1 (n_items, n_genres) genre membership, read from the catalog's feature columns."""
    columns = [i for i, name in enumerate(catalog.feature_names) if name.startswith("genre:")]
    side = catalog.features[:, catalog.n_items:][:, columns]
    side.data[:] = 1.0
    return side.tocsr(), [catalog.feature_names[i].removeprefix("genre:") for i in columns]


def to_recommender(model: LightFM, config: ModelConfig, interactions: sp.csr_matrix, split: Split,
                   catalog: MatrixIndex, version: str) -> Recommender:
    """Precompute the embeddings serving needs; the LightFM object is not needed afterwards."""
    features = catalog.features if config.item_features else None
    item_biases, item_embeddings = model.get_item_representations(features)
    _, user_embeddings = model.get_user_representations()
    popularity = np.asarray(interactions.sum(axis=0)).ravel()
    # Pure CF knows only items it trained on; a hybrid can place any item through its features.
    candidates = np.ones(catalog.n_items, bool) if config.item_features else popularity > 0
    genres, genre_names = genre_matrix(catalog)
    return Recommender(
        name=config.name, version=version, user_ids=catalog.user_ids, item_ids=catalog.item_ids,
        user_embeddings=user_embeddings, item_embeddings=item_embeddings, item_biases=item_biases,
        known_users=interactions.getnnz(axis=1) > 0, candidates=candidates,
        seen=catalog.matrix(split.history), popularity=popularity, item_genres=genres, genres=genre_names,
    )
