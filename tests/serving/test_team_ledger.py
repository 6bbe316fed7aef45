"""The ledger's team credit: one credit per (list, arm), so both arms of an interleaved list credit their
team even when they share one ledger database, as every replica of every arm does on a cluster."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from funflix.serving.feedback_ledger import CREDITED, DUPLICATE, FeedbackLedger


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres").create_database(f"funflix_team_ledger_{uuid.uuid4().hex[:12]}")


def test_the_ab_credit_of_a_shared_ledger_cannot_credit_both_teams(location):
    """Why interleaving needs its own credit: the A/B one is once per puid across arms (the second arm loses)."""
    control, challenger = (FeedbackLedger(location, arm, f"{arm}-0") for arm in ("control", "challenger"))
    assert control.credit("list-1", 1) == CREDITED
    assert challenger.credit("list-1", 1) == DUPLICATE


def test_each_team_is_credited_once_per_list_under_concurrent_broadcasts(location):
    arms = {arm: [FeedbackLedger(location, arm, f"{arm}-{r}") for r in range(2)] for arm in ("control", "challenger")}
    lists = [(f"list-{i}", i % 3) for i in range(60)]  # i % 3: 0 no click, 1 control's item, 2 challenger's
    jobs = []
    for copy in range(3):  # each feedback broadcast three times (retries), landing on either replica
        for puid, clicked in lists:
            for arm, replicas in arms.items():
                mine = int(clicked == (1 if arm == "control" else 2))
                outcome = "no_click" if not clicked else ("win" if mine else "loss")
                jobs.append((replicas[copy % 2], puid, mine, outcome))
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda job: job[0].credit_team(*job[1:]), jobs))
    assert results.count(CREDITED) == 2 * len(lists) and results.count(DUPLICATE) == 4 * len(lists)
    for arm, replicas in arms.items():
        totals = replicas[0].arm_counts()
        assert replicas[1].arm_counts() == totals  # every replica reports its arm's totals
        assert totals["team_impressions"] == 60 and totals["team_clicks"] == 20
        assert (totals["win"], totals["loss"], totals["no_click"], totals["tie"]) == (20, 20, 20, 0)
        assert totals["duplicate"] == 120 and totals["impressions"] == totals["clicks"] == 0


@pytest.mark.parametrize("clicks, outcome", [(-1, "win"), (1, "draw")])
def test_bad_team_credit_is_refused(tmp_path, clicks, outcome):
    ledger = FeedbackLedger(tmp_path / "ledger.sqlite", "control", "control-0")
    with pytest.raises(ValueError, match="outcome must be one of"):
        ledger.credit_team("list-1", clicks, outcome)
    assert ledger.arm_counts()["team_impressions"] == 0
