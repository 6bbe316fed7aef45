"""The two environments are really split: the main one has no seldon_core and none of its old pins;
the serving one runs the components without Flask 3 or lightfm (with SQLAlchemy, for their feedback
ledger); each side imports cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from importlib.util import find_spec

import pytest
from packaging.version import Version

from funflix.environments import SERVING_PYTHON_VARIABLE, serving_bin, serving_python

PARTS = ("data", "models", "serving", "website", "simulation", "experiment")
# The components and what only they import (seldon-core's metrics, protobuf): the serving environment's modules.
COMPONENTS = {"funflix.serving.ABRouter", "funflix.serving.RecommenderModel", "funflix.serving.InterleavingCombiner",
              "funflix.serving.interleaving_credit", "funflix.serving.ledger_metrics",
              "funflix.serving.seldon_metrics_lock"}
# The releases below which published advisories apply (SECURITY.md); seldon-core 1.17.1 pins every one.
FLOORS = {"werkzeug": "3.0.6", "gunicorn": "23", "flask": "3", "urllib3": "2.5", "protobuf": "4.25.8",
          "cryptography": "42.0.4"}


def run_python(python: str, code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (nothing imported by the test run leaks in)."""
    return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)


def versions_in(python: str, names: list[str]) -> dict[str, str | None]:
    code = ("import json, importlib.metadata as m\n"
            "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{n: v(n) for n in {names!r}}}))")
    done = run_python(python, code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_main_environment_has_no_seldon_core_and_none_of_its_pins(capsys):
    assert find_spec("seldon_core") is None
    found = versions_in(sys.executable, list(FLOORS))
    with capsys.disabled():
        print("\nmain environment: " + ", ".join(f"{name} {found[name] or 'absent'}" for name in FLOORS))
    for name, floor in FLOORS.items():
        assert found[name] is None or Version(found[name]) >= Version(floor), f"{name} {found[name]} < {floor}"
    assert Version(version("werkzeug")) >= Version("3.0.6") and Version(version("gunicorn")) >= Version("23")


def test_every_module_but_the_components_imports_without_seldon_core():
    """The website, gateway, stack, CLI, training, simulation, statistics: all of funflix but the
    router, combiner and model classes (and their interleaving credit, ledger counters and Seldon metrics
    lock), imported in a fresh main-environment interpreter."""
    done = run_python(sys.executable, f"""
import importlib, pkgutil, sys
names = []
for package in ["funflix"] + ["funflix." + part for part in {PARTS!r}]:
    found = importlib.import_module(package).__path__
    names += [m.name for m in pkgutil.iter_modules(found, package + ".") if m.name not in {sorted(COMPONENTS)!r}]
for name in names:
    importlib.import_module(name)
print(len(names), sorted(n for n in sys.modules if n.split(".")[0] in ("seldon_core", "flask_cors", "jaeger_client")))
""")
    assert done.returncode == 0, done.stderr
    count, seldon = done.stdout.split(" ", 1)
    assert int(count) > 60  # every module, not an empty walk
    assert seldon.strip() == "[]"


def test_the_serving_environment_runs_the_components_without_flask_3_or_lightfm(capsys):
    python = str(serving_python())
    done = run_python(python, """
import sys
import funflix.serving.ABRouter, funflix.serving.RecommenderModel, funflix.models.artifacts
import funflix.serving.InterleavingCombiner, funflix.serving.interleaving_credit
print(sorted(name for name in sys.modules if name.split(".")[0] in ("lightfm", "pandas", "selenium")),
      "sqlalchemy" in sys.modules)
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] True"  # SQLAlchemy: the feedback ledger (SQLite or PostgreSQL)
    found = versions_in(python, ["seldon-core", "flask", "werkzeug", "gunicorn", "numpy", "lightfm", "tornado",
                                 "sqlalchemy", "psycopg2-binary"])
    with capsys.disabled():
        print("\nserving environment: " + ", ".join(f"{name} {v or 'absent'}" for name, v in found.items()))
    assert found["seldon-core"] == "1.17.1" and Version(found["flask"]) < Version("3")
    assert found["lightfm"] is None
    assert Version(found["sqlalchemy"]) >= Version("2") and found["psycopg2-binary"] is not None
    training = run_python(python, "import funflix.models.train")
    assert "No module named 'lightfm'" in training.stderr  # training belongs to the main environment


def test_the_serving_environment_is_found_from_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(SERVING_PYTHON_VARIABLE, str(serving_python()))
    assert serving_bin() == serving_python().parent
    monkeypatch.setenv(SERVING_PYTHON_VARIABLE, str(tmp_path / "bin" / "python"))
    with pytest.raises(FileNotFoundError, match="no seldon-core-microservice beside it"):
        serving_bin()
