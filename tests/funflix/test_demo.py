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


@pytest.mark.slow
@pytest.mark.browser
def test_demo_tells_the_whole_story_and_exits(home, movielens_dir, capsys):
    """`funflix demo --exit` on free ports: models, offline table, stack, HTTP and Selenium traffic, verdict."""
    from funflix.cli import main
    from funflix.serving.processes import free_port_block

    ports = free_port_block(3)
    argv = ["demo", "--exit", "--round", "300", "--max-sessions", "600", "--browser-sessions", "2",
            "--tournament-max-users", "2000",
            "--gateway-port", str(ports), "--website-port", str(ports + 1), "--prometheus-port", str(ports + 2),
            "--component-port", str(free_port_block(3)), "--metrics-port", str(free_port_block(3))]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for step in ("1. MovieLens", "2. Offline comparison", "3. Local stack", "4. Simulated users",
                 "5. A short Selenium run", "6. The verdict", "7. Two-stage flow"):
        assert step in out
    assert "after 300 sessions" in out and "VERDICT:" in out
    assert "Offline, challenger ranks better" in out
    assert "stage 1: interleaving 5 candidates" in out and "users: interleaving" in out
    assert list((home / "reports").glob("experiment-*.html"))
