import numpy as np
import pandas as pd
import pytest

from funflix.data.features import item_features
from funflix.data.movielens import load_movies, read_movies, read_ratings
from funflix.data.split import split_interactions
from funflix.data.synthetic import synthetic_ratings, write_synthetic


@pytest.fixture(scope="module")
def split(prepared):
    return prepared.split


def test_held_out_positives_are_each_users_latest(split):
    last_history = split.history.groupby("userId")["timestamp"].max()
    first_test = split.test.groupby("userId")["timestamp"].min()
    assert (last_history.reindex(first_test.index) <= first_test).all()
    assert (split.test["rating"] >= 4.0).all()
    assert split.test["userId"].nunique() == 608  # DESIGN: a per-user split keeps ~600 test users


def test_no_pair_is_both_trained_on_and_held_out(split):
    key = lambda f: set(zip(f["userId"], f["movieId"]))  # noqa: E731
    assert not key(split.train) & key(split.test)
    assert not key(split.history) & key(split.test)
    assert key(split.train_old) <= key(split.train) <= key(split.history)


def test_control_period_is_older_than_the_cutoff(split):
    assert split.train_old["timestamp"].max() < split.cutoff <= split.train["timestamp"].max()
    assert 0.45 < len(split.train_old) / len(split.train) < 0.55


def test_each_user_holds_out_a_fifth_rounded_up(split):
    positives = split.train.groupby("userId").size().add(split.test.groupby("userId").size(), fill_value=0)
    held = split.test.groupby("userId").size()
    assert (held == np.ceil(positives.loc[held.index] * 0.2)).all()


@pytest.mark.parametrize("kwargs", [{"test_fraction": 0}, {"test_fraction": 1.2}, {"old_fraction": 1}])
def test_bad_split_parameters(prepared, kwargs):
    with pytest.raises(ValueError, match="must be in"):
        split_interactions(prepared.ratings, **kwargs)


def test_item_features_are_genres_and_decade(movielens_dir):
    features = item_features(load_movies(movielens_dir))
    assert features[1] == ["genre:Adventure", "genre:Animation", "genre:Children", "genre:Comedy", "genre:Fantasy", "decade:1990s"]


def test_synthetic_data_has_the_movielens_layout(tmp_path):
    folder = write_synthetic(tmp_path / "syn", n_users=300, n_items=500, n_ratings=6000, seed=3)
    ratings, movies = read_ratings(folder / "ratings.csv"), read_movies(folder / "movies.csv")
    assert len(ratings) == 6000 and not ratings.duplicated(["userId", "movieId"]).any()
    assert ratings["userId"].max() <= 300 and set(ratings["movieId"]) <= set(movies["movieId"])
    counts = ratings["movieId"].value_counts()
    assert counts.iloc[:50].sum() > 5 * counts.iloc[-50:].sum()  # power-law popularity
    assert movies["year"].notna().all() and movies["genres"].map(len).between(1, 3).all()
    again, _ = synthetic_ratings(n_users=300, n_items=500, n_ratings=6000, seed=3)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), ratings.astype(again.dtypes).reset_index(drop=True))


def test_synthetic_rejects_impossible_density():
    with pytest.raises(ValueError, match="too dense"):
        synthetic_ratings(n_users=2, n_items=2, n_ratings=3)
