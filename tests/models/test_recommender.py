import numpy as np
import pytest
from lightfm.evaluation import auc_score, precision_at_k

from funflix.models import evaluation
from funflix.models.artifacts import artifact_dir, load_recommender, read_metadata
from funflix.models.config import CHALLENGER, CONTROL
from funflix.models.train import train_arm


@pytest.fixture(scope="module")
def challenger(prepared):
    return train_arm(CHALLENGER.quick(), prepared.split, prepared.catalog, version="test", progress=False)


def test_precision_and_auc_match_lightfm_evaluation(prepared, challenger):
    model, recommender = challenger
    catalog, split = prepared.catalog, prepared.split
    test, seen = catalog.matrix(split.test), catalog.matrix(split.history)
    ours, _ = evaluation.evaluate_users(recommender, split.test, np.zeros(catalog.n_items), 1, k=10)
    lightfm_p = precision_at_k(model, test, train_interactions=seen, k=10, item_features=catalog.features)
    lightfm_auc = auc_score(model, test, train_interactions=seen, item_features=catalog.features)
    assert ours["precision"].mean() == pytest.approx(lightfm_p.mean(), abs=1e-6)
    assert ours["auc"].mean() == pytest.approx(lightfm_auc.mean(), abs=2e-3)


def test_top_k_excludes_history_and_is_sorted(prepared, challenger):
    _, rec = challenger
    user = int(prepared.split.test["userId"].iloc[0])
    history = set(prepared.split.history.loc[prepared.split.history["userId"] == user, "movieId"])
    result = rec.recommend(user, k=25)
    assert result.strategy == "personal" and len(result.items) == 25 == len(set(result.items))
    assert not history & set(result.items)
    assert result.scores == sorted(result.scores, reverse=True)
    everything = rec.scores(rec._user_row(user))
    unseen = np.setdiff1d(np.arange(rec.n_items), rec.item_ids.searchsorted(list(history)))
    assert result.scores[0] == pytest.approx(everything[unseen].max())


def test_cold_start_lists(challenger):
    _, rec = challenger
    popular = rec.recommend(10_000_000, k=5)
    assert popular.strategy == "popularity"
    assert popular.items == rec.item_ids[np.argsort(-rec.popularity, kind="stable")[:5]].tolist()
    by_genre = rec.recommend(10_000_000, k=10, genres=["Horror"])
    assert by_genre.strategy == "features" and by_genre.items != popular.items[:10]
    with pytest.raises(ValueError, match="unknown genre"):
        rec.recommend(10_000_000, k=5, genres=["Opera"])


@pytest.mark.parametrize("k", [0, -1, 10**9, 2.5, True, "10"])
def test_k_out_of_range(challenger, k):
    with pytest.raises(ValueError, match="k must be an integer"):
        challenger[1].recommend(1, k=k)


def test_similar_items_is_cosine_on_item_embeddings(challenger):
    _, rec = challenger
    result = rec.similar_items(1, k=5)
    assert 1 not in result.items and result.strategy == "similar"
    unit = rec.item_embeddings / np.linalg.norm(rec.item_embeddings, axis=1, keepdims=True)
    cosine = unit @ unit[rec.item_ids.searchsorted(1)]
    assert result.scores[0] == pytest.approx(np.sort(cosine)[-2], abs=1e-5)
    with pytest.raises(ValueError, match="unknown movie id 999999999"):
        rec.similar_items(999_999_999)


def test_users_for_item_skips_users_who_saw_it(prepared, challenger):
    _, rec = challenger
    users, scores = rec.users_for_item(1, k=20)
    watched = set(prepared.split.history.loc[prepared.split.history["movieId"] == 1, "userId"])
    assert len(users) == 20 and not watched & set(users) and scores == sorted(scores, reverse=True)


def test_control_only_recommends_items_it_trained_on(prepared):
    _, control = train_arm(CONTROL.quick(), prepared.split, prepared.catalog, progress=False)
    old_items = set(prepared.split.train_old["movieId"])
    user = int(prepared.split.train_old["userId"].iloc[0])
    assert set(control.recommend(user, k=50).items) <= old_items
    recent_only = set(prepared.split.train["userId"]) - set(prepared.split.train_old["userId"])
    assert control.recommend(min(recent_only), k=5).strategy == "popularity"


def test_training_is_reproducible(prepared):
    config = CONTROL.quick()
    _, first = train_arm(config, prepared.split, prepared.catalog, progress=False)
    _, second = train_arm(config, prepared.split, prepared.catalog, progress=False)
    np.testing.assert_array_equal(first.item_embeddings, second.item_embeddings)


def test_artifacts_round_trip(quick_models_root, prepared):
    rec = load_recommender("challenger", root=quick_models_root)
    meta = read_metadata("challenger", root=quick_models_root)
    assert meta["version"] == rec.version and meta["config"]["item_features"] is True
    assert meta["data"]["checksum"] and meta["split"]["test_users"] == 608 and "precision@10" in meta["metrics"]
    assert artifact_dir("challenger", rec.version, quick_models_root) == artifact_dir("challenger", root=quick_models_root)
    user = int(prepared.split.test["userId"].iloc[0])
    assert rec.recommend(user, 10).strategy == "personal"
    with pytest.raises(FileNotFoundError, match="run `funflix train`"):
        load_recommender("nonexistent", root=quick_models_root)
    with pytest.raises(FileNotFoundError, match="no artifact challenger/v0"):
        load_recommender("challenger", "v0", root=quick_models_root)
