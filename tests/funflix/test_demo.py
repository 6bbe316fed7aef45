"""The demo's closing statement: does the better offline arm win online, and if not, why not."""

import pytest

from funflix.demo import offline_vs_online
from funflix.experiment.verdict import Verdict

PRECISION = {"control": 0.0676, "challenger": 0.0946}


@pytest.mark.parametrize(
    ("decision", "arm", "expected"),
    [
        ("ship", "challenger", "They agree"),
        ("stop: harm", "challenger", "They disagree"),
        ("ship", "control", "They disagree"),
        ("keep running", "challenger", "No online winner yet"),
        ("inconclusive", None, "No online winner yet"),
    ],
)
def test_offline_and_online_winners(decision, arm, expected):
    line = offline_vs_online(Verdict(decision, "mSPRT", "because", arm), PRECISION)
    assert line.startswith("Offline, challenger ranks better (P@10 control 0.0676, challenger 0.0946)")
    assert expected in line
