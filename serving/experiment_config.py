"""The experiment's configuration: the ``experiment`` section of ``charts/funflix/values.yaml``.

That file is the one source of truth: the Helm chart renders it into the SeldonDeployment
and the local stack reads it here. Bad values raise ``ValueError`` naming the field.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from funflix.paths import REPO_ROOT

VALUES_FILE = REPO_ROOT / "charts" / "funflix" / "values.yaml"
# The chart gives its pods the experiment section as JSON (an image holds no values.yaml).
EXPERIMENT_JSON_ENV = "FUNFLIX_EXPERIMENT_JSON"
ROUTING_MODES = ("sticky", "random", "thompson")
ROUTER_NODE = "ab-router"
DESIGNS = ("ab", "interleaving")
COMBINER_NODE = "interleaver"  # graph root of the interleaving design (a Seldon COMBINER)
NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a Kubernetes DNS label: graph node names


@dataclass(frozen=True)
class Arm:
    """One arm: graph node ``name``, the artifact folder ``model`` and its ``version``, traffic ``split``."""

    name: str
    model: str
    version: str
    split: float


@dataclass(frozen=True)
class ExperimentConfig:
    """The experiment: arms in child order (index 0 is the first arm, the control).

    ``design`` is ``ab`` (a router sends each request to one arm) or ``interleaving`` (a combiner
    merges both arms' lists by team draft; ``routing`` and the splits are then unused).
    """

    name: str
    salt: str
    routing: str
    arms: tuple[Arm, ...]
    design: str = "ab"

    @property
    def root_node(self) -> str:
        """The graph's root node: the router, or the interleaving combiner."""
        return COMBINER_NODE if self.design == "interleaving" else ROUTER_NODE

    @property
    def arm_names(self) -> list[str]:
        return [arm.name for arm in self.arms]

    @property
    def splits(self) -> list[float]:
        return [arm.split for arm in self.arms]

    def arm_index(self, name: str) -> int:
        """Router child index of arm ``name`` (ValueError for an unknown arm)."""
        try:
            return self.arm_names.index(name)
        except ValueError:
            raise ValueError(f"unknown arm {name!r}; arms are {', '.join(self.arm_names)}") from None


def load_experiment(path: str | Path | None = None) -> ExperimentConfig:
    """Read and validate the ``experiment`` section of a values file (default: ``$FUNFLIX_EXPERIMENT_JSON``
    when set, as on the chart's pods, else the chart's values.yaml)."""
    if path is None and os.environ.get(EXPERIMENT_JSON_ENV):
        return experiment_from_json(os.environ[EXPERIMENT_JSON_ENV], source=EXPERIMENT_JSON_ENV)
    path = Path(path) if path is not None else VALUES_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or "experiment" not in document:
        raise ValueError(f"{path} has no 'experiment' section")
    return parse_experiment(document["experiment"], source=str(path))


def experiment_from_json(text: str, source: str) -> ExperimentConfig:
    """Validate an ``experiment`` section given as JSON text."""
    try:
        section = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not JSON: {exc}") from None
    return parse_experiment(section, source=source)


def parse_experiment(section: object, source: str = "experiment") -> ExperimentConfig:
    """Validate an ``experiment`` mapping (as in values.yaml) into an :class:`ExperimentConfig`."""
    if not isinstance(section, dict):
        raise ValueError(f"{source}: 'experiment' must be a mapping")
    unknown = sorted(set(section) - {"name", "salt", "routing", "arms", "design"})
    if unknown:
        raise ValueError(f"{source}: unknown experiment key(s) {unknown}")
    name = _text(section, "name", source)
    salt = _text(section, "salt", source)
    routing = _text(section, "routing", source)
    if routing not in ROUTING_MODES:
        raise ValueError(f"{source}: experiment.routing must be one of {', '.join(ROUTING_MODES)}, got {routing!r}")
    design = _text(section, "design", source) if "design" in section else "ab"
    if design not in DESIGNS:
        raise ValueError(f"{source}: experiment.design must be one of {', '.join(DESIGNS)}, got {design!r}")
    raw_arms = section.get("arms")
    if not isinstance(raw_arms, list) or len(raw_arms) < 2:
        raise ValueError(f"{source}: experiment.arms must list at least two arms")
    arms = tuple(_arm(raw, f"{source}: experiment.arms[{i}]") for i, raw in enumerate(raw_arms))
    names = [arm.name for arm in arms]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicate arm name(s) {duplicates}")
    for node in (ROUTER_NODE, COMBINER_NODE):
        if node in names:
            raise ValueError(f"{source}: arm name {node!r} is a graph node name of the router or combiner")
    if design == "interleaving" and len(arms) != 2:
        raise ValueError(f"{source}: experiment.design interleaving needs exactly two arms (control, challenger)")
    total = sum(arm.split for arm in arms)
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ValueError(f"{source}: experiment.arms splits must sum to 1, got {total:g}")
    return ExperimentConfig(name=name, salt=salt, routing=routing, arms=arms, design=design)


def _text(mapping: dict, key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _arm(raw: object, where: str) -> Arm:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping with name, model, version, split")
    unknown = sorted(set(raw) - {"name", "model", "version", "split"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    name = _text(raw, "name", where)
    if not NODE_NAME.match(name):
        raise ValueError(f"{where}: name {name!r} must be a lowercase DNS label (a Seldon graph node name)")
    model = _text(raw, "model", where) if "model" in raw else name
    version = _text(raw, "version", where) if "version" in raw else "latest"
    split = raw.get("split")
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0.0 <= split <= 1.0:
        raise ValueError(f"{where}: split must be a number in [0, 1], got {split!r}")
    return Arm(name=name, model=model, version=version, split=float(split))
