"""The chart's values as ``funflix k8s`` reads them: ``values.yaml``, then ``--values`` files, then ``--set``.

``--set key=value`` is YAML-typed and takes list indexes (``arms[1].split=0.3`` changes one list
element, which plain ``helm --set`` cannot).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from .chart import CHART_DIR

SET_KEY = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")  # name, then list indexes: arms[0]


def merge_values(base: dict, override: dict) -> dict:
    """Helm's merge: mappings merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_set(values: dict, assignment: str) -> dict:
    """Apply one ``a.b[1].c=value`` (value parsed as YAML) to a copy of ``values``."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {assignment!r}: expected key=value")
    steps: list = []
    for part in re.split(r"(?<!\\)\.", key):  # a.b, or "a\.b" for a key holding a dot (as in helm)
        match = SET_KEY.match(part)
        if not match:
            raise ValueError(f"--set {assignment!r}: bad key part {part!r}")
        steps.append(match.group(1).replace("\\.", "."))
        steps.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    result = copy.deepcopy(values)
    node = result
    for step, following in zip(steps, steps[1:]):
        if _slot(node, step, assignment) is None or not isinstance(node[step], (dict, list)):
            _put(node, step, [] if isinstance(following, int) else {})
        node = node[step]
    _slot(node, steps[-1], assignment)
    _put(node, steps[-1], value)
    return result


def _slot(node, step, assignment: str):
    """The current value at ``step`` of ``node`` (None when absent); ValueError when it cannot exist."""
    if isinstance(step, int):
        if not isinstance(node, list):
            raise ValueError(f"--set {assignment!r}: [{step}] indexes something that is not a list")
        if step > len(node):
            raise ValueError(f"--set {assignment!r}: index {step} is past the end of the list")
        return node[step] if step < len(node) else None
    if not isinstance(node, dict):
        raise ValueError(f"--set {assignment!r}: {step!r} is not inside a mapping")
    return node.get(step)


def _put(node, step, value) -> None:
    if isinstance(step, int) and step == len(node):
        node.append(value)
    else:
        node[step] = value


def load_values(values_files=(), sets=()) -> dict:
    """The chart's values.yaml, then each ``--values`` file, then each ``--set``."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for path in values_files:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"values file {path} does not exist")
        try:
            extra = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(extra, dict):
            raise ValueError(f"{path} must hold a mapping of values")
        values = merge_values(values, extra)
    for assignment in sets:
        values = apply_set(values, assignment)
    return values
