"""Fixtures of the dashboard tests: the dashboard builder (``grafana/main.py``), its panels' queries,
and the substitution of Grafana's template variables so Prometheus can run them."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass

import pytest

from funflix.paths import REPO_ROOT

GRAFANA_DIR = REPO_ROOT / "grafana"


def load_builder():
    """``grafana/main.py`` as a module (it imports its panels as ``src.*``, beside it)."""
    if str(GRAFANA_DIR) not in sys.path:
        sys.path.insert(0, str(GRAFANA_DIR))
    spec = importlib.util.spec_from_file_location("funflix_grafana_main", GRAFANA_DIR / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Target:
    """One query of one panel, as the rendered dashboard JSON holds it."""

    panel: str
    ref_id: str
    expr: str
    legend: str

    @property
    def name(self) -> str:
        return f"{self.panel} [{self.ref_id}: {self.legend}]"


def targets_of(board: dict) -> list[Target]:
    return [Target(panel["title"], t["refId"], t["expr"], t.get("legendFormat", ""))
            for panel in board["panels"] for t in panel.get("targets", [])]


def substitute(expr: str, *, window: str, rate_interval: str, deployment: str) -> str:
    """The query Grafana would send once ``$window``, ``$__rate_interval`` and ``$deployment`` are set."""
    text = (expr.replace("$__rate_interval", rate_interval).replace("$window", window)
            .replace("$deployment", deployment))
    left = re.findall(r"\$\w+", text)
    if left:
        raise AssertionError(f"unsubstituted variables {left} in {expr}")
    return text


@pytest.fixture(scope="session")
def builder():
    return load_builder()


@pytest.fixture(scope="session")
def board(builder) -> dict:
    """The dashboard rendered for the chart's values.yaml."""
    return json.loads(builder.render())


@pytest.fixture(scope="session")
def targets(board) -> list[Target]:
    return targets_of(board)
