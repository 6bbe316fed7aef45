"""Team-draft interleaving: fair coins, no duplicates, reproducible per puid, clicks scored per team."""

from __future__ import annotations

import numpy as np
import pytest

from funflix.serving.team_draft import Ranking, evaluate, interleave, outcome, puid_generator


def test_each_team_drafts_its_best_item_not_yet_shown():
    ranking = interleave([1, 2, 3, 4], [2, 5, 1, 6], np.random.default_rng(0), k=6)
    assert len(ranking.items) == len(set(ranking.items)) == 6
    for team, source in ((0, [1, 2, 3, 4]), (1, [2, 5, 1, 6])):
        drafted = ranking.team_items(team)
        positions = [source.index(item) for item in drafted]
        assert positions == sorted(positions)  # a team's items keep its order
    # every round adds one item of each team (k even, lists long enough)
    for start in range(0, 6, 2):
        assert sorted(ranking.teams[start:start + 2]) == [0, 1]


def test_identical_lists_give_the_same_items_and_split_the_teams():
    ranking = interleave(list(range(10)), list(range(10)), np.random.default_rng(3))
    assert ranking.items == list(range(10))
    assert ranking.teams.count(0) == ranking.teams.count(1) == 5


def test_the_coin_is_fair():
    first_team = [interleave([1, 2], [3, 4], puid_generator(f"p{i}"), k=2).teams[0] for i in range(4000)]
    share = np.mean(first_team)
    assert abs(share - 0.5) < 3 * np.sqrt(0.25 / 4000)


def test_the_same_puid_gives_the_same_list_and_another_may_differ():
    a, b = list(range(100, 110)), list(range(105, 115))
    one = interleave(a, b, puid_generator("abc"))
    assert one == interleave(a, b, puid_generator("abc"))
    assert len({tuple(interleave(a, b, puid_generator(f"x{i}")).teams) for i in range(20)}) > 1


def test_short_lists_are_used_up_then_the_longer_one_fills():
    ranking = interleave([1], [2, 3, 4], np.random.default_rng(1), k=4)
    assert sorted(ranking.items) == [1, 2, 3, 4]
    assert ranking.team_items(0) == [1]


def test_clicks_credit_the_team_of_the_clicked_item():
    ranking = Ranking([10, 20, 30, 40], [0, 1, 1, 0])
    assert evaluate(ranking, [20]) == (0, 1)
    assert evaluate(ranking, [10, 20]) == (1, 1)
    assert evaluate(ranking, [99]) == (0, 0)
    assert [outcome(0, 1), outcome(1, 0), outcome(1, 1), outcome(0, 0)] == ["win", "loss", "tie", "no_click"]


@pytest.mark.parametrize("bad", ["", None, 5])
def test_a_missing_puid_is_refused(bad):
    with pytest.raises(ValueError):
        puid_generator(bad)
