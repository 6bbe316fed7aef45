"""``funflix tournament``: candidates interleaved against production, the weak dropped, the best A/B-tested."""

from __future__ import annotations

import json

import numpy as np
import pytest

from funflix.cli import main
from funflix.simulation.interleaving_offline import PairOutcomes
from funflix.simulation.tournament import ab_stage, best_finalist, interleaving_stage


def pair(ctr_a, ctr_b, win, loss, n=400):
    return PairOutcomes(np.full(n, ctr_a), np.full(n, ctr_b), np.full(n, win), np.full(n, loss))


def test_the_stage_keeps_the_preferred_drops_the_worse_and_gives_up_on_ties():
    pairs = {"better": pair(0.07, 0.09, 0.06, 0.03), "much-better": pair(0.07, 0.11, 0.08, 0.02),
             "worse": pair(0.07, 0.05, 0.02, 0.05), "same": pair(0.07, 0.07, 0.035, 0.035)}
    candidates, rounds = interleaving_stage(pairs, "control", 100, 3000, 3, np.random.default_rng(0))
    status = {c.name: c.status for c in candidates}
    assert status == {"better": "finalist", "much-better": "finalist", "worse": "dropped: worse",
                      "same": "dropped: no preference"}
    decided = {c.name: c.decided_after for c in candidates}
    assert decided["much-better"] <= decided["better"] and decided["same"] == 3000
    assert best_finalist(candidates) == "much-better" and len(rounds) == 30


def test_the_ab_stage_ships_a_better_ctr_and_stops_a_worse_one():
    rng = np.random.default_rng(1)
    assert ab_stage(pair(0.07, 0.11, 0, 0), 200, 100_000, 3, rng)["decision"] == "ship"
    assert ab_stage(pair(0.11, 0.07, 0, 0), 200, 100_000, 3, rng)["decision"] == "stop: harm"
    assert ab_stage(pair(0.07, 0.07, 0, 0), 200, 2000, 3, rng)["decision"] == "inconclusive"


@pytest.mark.parametrize("argv, message", [
    (["--candidates", "challenger", "popularity", "challenger-3-epochs"], "at least 4"),
    (["--candidates", "control", "challenger", "popularity", "challenger-3-epochs"], "cannot also be a candidate"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--alpha", "2"], "--alpha must be in (0, 1)"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert main(["tournament", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_the_tournament_runs_on_the_simulated_users(home, capsys):
    assert main(["tournament", "--quick", "--max-users", "3000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["candidates"]) == 5 and result["interleaving_users"] <= 5 * 3000
    statuses = {c["name"]: c["status"] for c in result["candidates"]}
    assert set(statuses.values()) <= {"finalist", "dropped: worse", "dropped: no preference"}
    if result["best"]:
        assert statuses[result["best"]] == "finalist" and result["ab"]["decision"] in {"ship", "stop: harm", "inconclusive"}
