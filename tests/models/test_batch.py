"""Batch recommendations (``funflix recommend --all``) against per-user ``recommend()``."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from funflix.cli import main
from funflix.models.artifacts import load_recommender
from funflix.models.batch import read_user_ids, write_recommendations
from funflix.models.recommender import Recommender, top_k_columns


def per_user_frame(recommender, user_ids, k):
    rows = []
    for user in user_ids:
        result = recommender.recommend(int(user), k)
        rows += [(int(user), rank, item, score, result.strategy)
                 for rank, (item, score) in enumerate(zip(result.items, result.scores), start=1)]
    return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id", "score", "strategy"])


def assert_same_lists(batch: pd.DataFrame, expected: pd.DataFrame):
    assert len(batch) == len(expected)
    for column in ("user_id", "rank", "movie_id", "strategy"):
        assert batch[column].tolist() == expected[column].tolist(), column
    np.testing.assert_allclose(batch["score"].to_numpy(float), expected["score"].to_numpy(float), rtol=1e-6)


@pytest.mark.parametrize("arm", ["control", "challenger"])
def test_every_user_matches_per_user_recommend(quick_models_root, tmp_path, arm):
    recommender = load_recommender(arm, root=quick_models_root)
    out = tmp_path / "recs.parquet"
    summary = write_recommendations(recommender, out, k=12, chunk_size=37, progress=False)
    batch = pd.read_parquet(out)
    expected = per_user_frame(recommender, recommender.user_ids, 12)
    assert_same_lists(batch, expected)
    cold = int((~recommender.known_users).sum())
    assert summary["users"] == len(recommender.user_ids) and summary["rows"] == len(expected)
    assert summary["cold_start_users"] == cold
    assert set(batch["strategy"]) == {"personal", "popularity"}
    assert cold > 200 if arm == "control" else cold < 10  # the control never saw the newer half's users
    assert not list(tmp_path.glob(".*partial"))


def test_csv_equals_parquet_and_users_file_keeps_order(quick_models_root, tmp_path):
    recommender = load_recommender("challenger", root=quick_models_root)
    users_file = tmp_path / "users.txt"
    users_file.write_text("user_id\n414\n1\n\n10000000\n414\n")
    users = read_user_ids(users_file)
    assert users.tolist() == [414, 1, 10000000]
    write_recommendations(recommender, tmp_path / "a.csv", k=5, user_ids=users, progress=False)
    write_recommendations(recommender, tmp_path / "a.parquet", k=5, user_ids=users, progress=False)
    csv, parquet = pd.read_csv(tmp_path / "a.csv"), pd.read_parquet(tmp_path / "a.parquet")
    assert_same_lists(csv, per_user_frame(recommender, users, 5))
    assert_same_lists(parquet, csv)
    assert csv.loc[csv["user_id"] == 10000000, "strategy"].unique().tolist() == ["popularity"]


def test_ties_at_the_kth_place_go_to_the_lower_column():
    scores = np.array([[1.0, 3.0, 2.0, 2.0, 2.0, -np.inf],
                       [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]], dtype=np.float32)
    assert top_k_columns(scores, 3).tolist() == [[1, 2, 3], [0, 1, 2]]
    assert top_k_columns(scores[:, ::-1].copy(), 3).tolist() == [[4, 1, 2], [0, 1, 2]]
    assert top_k_columns(scores, 10).tolist() == [[1, 2, 3, 4, 0, 5], [0, 1, 2, 3, 4, 5]]


def test_recommend_breaks_ties_at_the_kth_place_by_movie_id():
    """A popularity list with many equal counts: the lower movieIds win, as a stable sort would rank them."""
    n_items = 200
    popularity = np.random.default_rng(0).integers(0, 4, n_items).astype(np.float32)
    rec = Recommender("x", "v", [1], np.arange(1, n_items + 1), np.zeros((1, 2)), np.zeros((n_items, 2)),
                      np.zeros(n_items), [False], np.ones(n_items, bool), sp.csr_matrix((1, n_items)), popularity,
                      sp.csr_matrix((n_items, 1)), ["Drama"])
    expected = (np.argsort(-popularity, kind="stable")[:10] + 1).tolist()
    assert rec.recommend(5, 10).items == expected


def test_cli_writes_and_reports(quick_models_root, tmp_path, capsys):
    out = tmp_path / "all.csv"
    code = main(["recommend", "--all", "--out", str(out), "--arm", "challenger", "--k", "3",
                 "--models-dir", str(quick_models_root), "--json"])
    assert code == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    frame = pd.read_csv(out)
    assert summary["rows"] == len(frame) == 3 * summary["users"]
    assert main(["recommend", "--user", "1", "-k", "2", "--models-dir", str(quick_models_root)]) == 0
    assert "user 1 (personal)" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--all"], "--all needs --out"),
    (["--all", "--out", "{tmp}/recs.txt"], "must end in .parquet or .csv"),
    (["--all", "--out", "{tmp}/missing/recs.csv"], "does not exist"),
    (["--all", "--out", "{tmp}/r.csv", "-k", "0"], "k must be an integer in [1, "),
    (["--all", "--out", "{tmp}/r.csv", "--arm", "nope"], "no trained model for arm 'nope'"),
    (["--all", "--out", "{tmp}/r.csv", "--version", "v0"], "no artifact control/v0"),
    (["--all", "--out", "{tmp}/r.csv", "--users", "{tmp}/bad-users.txt"], "bad-users.txt:2: expected an integer"),
    (["--all", "--out", "{tmp}/r.csv", "--users", "{tmp}/none.txt"], "users file"),
    (["--all", "--out", "{tmp}/r.csv", "--chunk-size", "0"], "--chunk-size must be >= 1"),
    (["--user", "1", "--out", "{tmp}/r.csv"], "go with --all"),
])
def test_bad_arguments_are_one_line_errors(quick_models_root, tmp_path, capsys, args, message):
    (tmp_path / "bad-users.txt").write_text("1\nseven\n")
    argv = ["recommend", *[a.format(tmp=tmp_path) for a in args], "--models-dir", str(quick_models_root)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("r.csv*")) and not list(tmp_path.glob(".r.csv*"))


def test_all_or_user_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["recommend", "--out", "x.csv"])
    assert exit_info.value.code == 2 and "one of the arguments --all --user is required" in capsys.readouterr().err
