"""Each environment's lock agrees with pyproject.toml, and each environment holds exactly its lock."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from funflix.environments import (ENVIRONMENTS, MAIN, SERVING, fingerprint, lock_inputs, locked_fingerprint,
                                  locked_pins)
from funflix.paths import REPO_ROOT

ENTRY = re.compile(r"^[A-Za-z0-9][^\n]*==[^\n]*(?:\n[ #][^\n]*)*", re.MULTILINE)  # a pin and its indented lines
REGENERATE = "pyproject.toml and the lock disagree: run `make lock`"


def unsatisfied(requirements: list[str], locked: dict[str, str]) -> list[str]:
    """The requirements (for Linux, Python 3.11) that the locked pins do not satisfy."""
    found = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        pinned = locked.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            found.append(f"{line} (locked: {pinned or 'absent'})")
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_lock_was_written_from_the_current_pyproject(environment):
    assert locked_fingerprint(environment.lock) == fingerprint(lock_inputs(environment)), REGENERATE
    assert unsatisfied(lock_inputs(environment), locked_pins(environment.lock)) == [], REGENERATE


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_build_lock_pins_the_same_versions_and_every_pin_has_a_hash(environment):
    locked, build = locked_pins(environment.lock), locked_pins(environment.build_lock)
    assert {"setuptools", "wheel"} <= set(build)
    assert {name: locked.get(name) for name in build} == build
    for path in (environment.lock, environment.build_lock):
        entries = ENTRY.findall(path.read_text())
        assert len(entries) == len(locked_pins(path))
        assert [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry] == [], path


def test_a_changed_pyproject_is_caught(tmp_path):
    """The checks above fail on a dependency the lock never saw, or on a tightened one."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    added = tmp_path / "added.toml"
    added.write_text(text.replace('    "pyyaml>=6",\n', '    "pyyaml>=6",\n    "kubernetes-asyncio>=31",\n'))
    tightened = tmp_path / "tightened.toml"
    tightened.write_text(text.replace('"gunicorn>=23"', '"gunicorn>=99"'))
    for pyproject in (added, tightened):
        inputs = lock_inputs(MAIN, pyproject)
        assert fingerprint(inputs) != locked_fingerprint(MAIN.lock)
        assert len(unsatisfied(inputs, locked_pins(MAIN.lock))) == 1


def installed(python: str) -> dict[str, str]:
    code = ("import importlib.metadata as m, json\n"
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return {canonicalize_name(name): version for name, version in json.loads(done.stdout).items()}


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_environment_holds_exactly_its_lock(environment):
    """`make install` installed the lock and the project, nothing more (pip itself aside)."""
    python = sys.executable if environment is MAIN else str(SERVING.python)
    found = installed(python)
    locked = locked_pins(environment.lock)
    assert found.pop("funflix") == "0.1.0"
    if "pip" not in locked:
        found.pop("pip", None)  # the venv's own pip
    assert found == locked
