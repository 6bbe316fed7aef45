"""What `funflix k8s split/promote/rollback` accept, checked before anything talks to a cluster."""

from __future__ import annotations

import pytest

from funflix import cli
from funflix.k8s.operations import all_to, parse_split

ARMS = ("control", "challenger")


def test_a_split_names_every_arm_once_in_router_order():
    assert parse_split(ARMS, ["challenger=0.2", "control=0.8"]) == (0.8, 0.2)
    assert all_to(ARMS, "challenger") == (0.0, 1.0)


@pytest.mark.parametrize("shares, message", [
    (["control=0.8"], "give every arm's share (missing: challenger)"),
    (["control=0.8", "challenger=0.3"], "shares must sum to 1, got 1.1"),
    (["control=0.9999995", "challenger=0"], "shares must sum to 1"),  # the router would refuse it
    (["control=1.5", "challenger=-0.5"], "'control=1.5': the share must be in [0, 1]"),
    (["control=half", "challenger=0.5"], "the share must be a number"),
    (["treatment=0.5", "control=0.5"], "expected ARM=SHARE with ARM one of control, challenger"),
    (["control=0.5", "control=0.5"], "arm control given twice"),
])
def test_bad_splits_are_refused_with_what_is_wrong(shares, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_split(ARMS, shares)


def test_promoting_an_unknown_arm_is_refused():
    with pytest.raises(ValueError, match="unknown arm 'treatment': arms are control, challenger"):
        all_to(ARMS, "treatment")


@pytest.mark.parametrize("argv", [["k8s", "split"], ["k8s", "promote"], ["k8s", "watch", "--interval", "soon"],
                                  ["k8s", "rollback", "--timeout", "never"]])
def test_usage_mistakes_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and "error:" in err


def test_bad_watch_settings_are_one_line_and_exit_2(capsys, tmp_path):
    code = cli.main(["k8s", "watch", "--steps", "0.5,0.9", "--db-url", f"sqlite:///{tmp_path}/s.db",
                     "--kubeconfig", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "funflix k8s: error: the last step must be 1.0 (the winner takes all traffic), got 0.9\n"


def test_no_cluster_is_one_line_and_exit_1(capsys, tmp_path):
    code = cli.main(["k8s", "status", "--kubeconfig", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("funflix k8s status: error: cannot load kubeconfig") and err.count("\n") == 1
