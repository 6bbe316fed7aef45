"""The experiment's design key in values.yaml: ab (default) or interleaving, validated."""

import pytest

from funflix.serving.experiment_config import parse_experiment

ARMS = [{"name": "control", "split": 0.5}, {"name": "challenger", "split": 0.5}]


def section(**extra):
    return {"name": "x", "salt": "s", "routing": "sticky", "arms": ARMS, **extra}


def test_the_design_defaults_to_ab_with_the_router_at_the_root():
    config = parse_experiment(section())
    assert (config.design, config.root_node) == ("ab", "ab-router")


def test_interleaving_puts_the_combiner_at_the_root():
    config = parse_experiment(section(design="interleaving"))
    assert (config.design, config.root_node) == ("interleaving", "interleaver")


@pytest.mark.parametrize("extra, message", [
    ({"design": "multileaving"}, "design must be one of ab, interleaving"),
    ({"design": ""}, "'design' must be a non-empty string"),
    ({"design": "interleaving", "arms": ARMS + [{"name": "third", "split": 0.0}]}, "exactly two arms"),
    ({"arms": [{"name": "interleaver", "split": 0.5}, {"name": "challenger", "split": 0.5}]}, "graph node name"),
])
def test_bad_designs_are_refused_naming_the_field(extra, message):
    with pytest.raises(ValueError, match=message):
        parse_experiment(section(**extra))
