"""The experiment section of values.yaml: the chart's own file loads, bad values are refused."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from funflix.serving.experiment_config import VALUES_FILE, load_experiment, parse_experiment

GOOD = {"name": "funflix-ab", "salt": "s1", "routing": "sticky",
        "arms": [{"name": "control", "model": "control", "version": "latest", "split": 0.5},
                 {"name": "challenger", "model": "challenger", "version": "latest", "split": 0.5}]}


def test_the_charts_values_file_is_a_valid_experiment():
    config = load_experiment()
    document = yaml.safe_load(VALUES_FILE.read_text())["experiment"]
    assert config.arm_names == [arm["name"] for arm in document["arms"]]
    assert config.routing == document["routing"]
    assert sum(config.splits) == pytest.approx(1.0)


def test_a_values_file_elsewhere_is_read(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"experiment": {**GOOD, "routing": "thompson"}}))
    config = load_experiment(path)
    assert config.routing == "thompson"
    assert config.arm_index("challenger") == 1


def _with(change):
    section = copy.deepcopy(GOOD)
    change(section)
    return section


@pytest.mark.parametrize("section, message", [
    (_with(lambda s: s["arms"][0].update(split=0.7)), "sum to 1"),
    (_with(lambda s: s.update(routing="round-robin")), "routing must be one of"),
    (_with(lambda s: s["arms"][1].update(name="control")), "duplicate arm"),
    (_with(lambda s: s["arms"].pop()), "at least two arms"),
    (_with(lambda s: s["arms"][0].update(split="half")), "split must be a number"),
    (_with(lambda s: s["arms"][0].update(split=-0.1)), "split must be a number"),
    (_with(lambda s: s["arms"][0].update(name="Control_1")), "DNS label"),
    (_with(lambda s: s["arms"][0].update(name="ab-router")), "router"),
    (_with(lambda s: s.update(salt="")), "'salt' must be a non-empty string"),
    (_with(lambda s: s.update(colour="red")), "unknown experiment key"),
    (_with(lambda s: s["arms"][0].update(weight=2)), "unknown key"),
    ("sticky", "must be a mapping"),
])
def test_bad_experiments_are_refused_with_the_reason(section, message):
    with pytest.raises(ValueError, match=message):
        parse_experiment(section)


def test_unknown_arm_lookup_names_the_arms():
    with pytest.raises(ValueError, match="unknown arm 'treatment'.*control, challenger"):
        parse_experiment(GOOD).arm_index("treatment")


def test_a_file_without_the_section_is_refused(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("image: {tag: x}\n")
    with pytest.raises(ValueError, match="no 'experiment' section"):
        load_experiment(path)


def test_the_pods_json_section_wins_over_the_charts_file(monkeypatch):
    """A pod has no values.yaml: the chart gives it the section as FUNFLIX_EXPERIMENT_JSON."""
    section = copy.deepcopy(yaml.safe_load(VALUES_FILE.read_text())["experiment"])
    section["salt"] = "from-the-pod"
    monkeypatch.setenv("FUNFLIX_EXPERIMENT_JSON", json.dumps(section))
    assert load_experiment().salt == "from-the-pod"
    assert load_experiment(VALUES_FILE).salt != "from-the-pod"  # an explicit file still wins
    monkeypatch.setenv("FUNFLIX_EXPERIMENT_JSON", "{not json")
    with pytest.raises(ValueError, match="FUNFLIX_EXPERIMENT_JSON is not JSON"):
        load_experiment()
