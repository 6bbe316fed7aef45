"""values.yaml documents every value (`## @param`, bitnami style) and values.schema.json types it."""

from __future__ import annotations

import json
import re

import yaml

from funflix import k8s

FREE_MAPS = {"resources", "executorResources", "commonLabels", "annotations", "labels", "extraEnv", "arms",
             "podSecurityContext", "containerSecurityContext"}


def value_paths(values: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in FREE_MAPS:
            paths += value_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def test_every_value_has_a_param_line_and_a_schema_entry():
    text = (k8s.CHART_DIR / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, flags=re.M))
    paths = value_paths(yaml.safe_load(text))
    assert sorted(set(paths) - documented) == []
    assert sorted(documented - set(paths)) == []  # no stale docs
    schema = json.loads((k8s.CHART_DIR / "values.schema.json").read_text())
    for path in paths:
        node = schema
        for part in path.split("."):
            node = node["properties"][part]
        assert node.get("type") or node.get("enum"), path


def test_schema_is_draft7_and_accepts_the_defaults():
    """jsonschema's Draft 7 validator agrees with helm's validator on the chart's own values."""
    from jsonschema import Draft7Validator

    schema = json.loads((k8s.CHART_DIR / "values.schema.json").read_text())
    Draft7Validator.check_schema(schema)
    assert list(Draft7Validator(schema).iter_errors(k8s.load_values())) == []
    bad = k8s.load_values(sets=["experiment.routing=bandit", "experiment.arms[0].split=2"])
    assert {tuple(e.absolute_path) for e in Draft7Validator(schema).iter_errors(bad)} == \
        {("experiment", "routing"), ("experiment", "arms", 0, "split")}
