"""Funflix's two Python environments, and where the serving one lives.

``main`` (``.venv``) runs everything on current releases: the CLI, training, the gateway, the website,
the simulation, the statistics and the tooling. ``serving`` (``.venv-serving``) runs only the Seldon
components (router and models) under ``seldon-core-microservice``, with seldon-core 1.17.1's old pins.
Each installs from its hash-pinned lock in ``requirements/`` (``make lock`` writes them from
``pyproject.toml``); on a cluster each is an image.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from funflix.paths import REPO_ROOT

SERVING_PYTHON_VARIABLE = "FUNFLIX_SERVING_PYTHON"
MICROSERVICE = "seldon-core-microservice"
PYPROJECT = REPO_ROOT / "pyproject.toml"
FINGERPRINT_PREFIX = "# funflix-inputs-sha256: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


@dataclass(frozen=True)
class Environment:
    """One environment: its venv folder, the pyproject extras it installs and its lock file."""

    name: str
    venv: str
    extras: tuple[str, ...]

    @property
    def lock(self) -> Path:
        return REPO_ROOT / "requirements" / f"{self.name}.txt"

    @property
    def build_lock(self) -> Path:
        """The build tools' part of :attr:`lock`, installed first (lightfm builds without isolation)."""
        return REPO_ROOT / "requirements" / f"{self.name}-build.txt"

    @property
    def python(self) -> Path:
        return REPO_ROOT / self.venv / "bin" / "python"


MAIN = Environment("main", ".venv", ("main", "test", "postgres", "dev"))
SERVING = Environment("serving", ".venv-serving", ("serving",))
ENVIRONMENTS = (MAIN, SERVING)


def build_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """``[build-system] requires``: locked too, since lightfm and the project build without isolation."""
    return list(tomllib.loads(pyproject.read_text())["build-system"]["requires"])


def lock_inputs(environment: Environment, pyproject: Path = PYPROJECT) -> list[str]:
    """The requirements an environment's lock is resolved from: the project's dependencies, the
    environment's extras and the build requirements."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    missing = [extra for extra in environment.extras if extra not in extras]
    if missing:
        raise ValueError(f"pyproject.toml has no extra {', '.join(missing)} for the {environment.name} environment")
    found = list(project.get("dependencies", []))
    for extra in environment.extras:
        found += extras[extra]
    return found + build_requirements(pyproject)


def fingerprint(requirements: list[str]) -> str:
    """A digest of a requirement list, blind to order and spacing (written into each lock's header)."""
    normalized = sorted("".join(requirement.split()).lower() for requirement in requirements)
    return hashlib.sha256("\n".join(normalized).encode()).hexdigest()


def locked_fingerprint(lock: Path) -> str | None:
    """The inputs digest a lock file was written from (None when its header has none)."""
    for line in lock.read_text().splitlines():
        if line.startswith(FINGERPRINT_PREFIX):
            return line[len(FINGERPRINT_PREFIX):].strip()
    return None


def locked_pins(lock: Path) -> dict[str, str]:
    """``{name: version}`` of a lock file's ``name==version`` pins (names normalized as PEP 503 says)."""
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in _PIN.findall(lock.read_text())}


def serving_bin() -> Path:
    """The folder whose ``seldon-core-microservice`` runs the components.

    In order: the environment of ``$FUNFLIX_SERVING_PYTHON``; the repo's ``.venv-serving``; the current
    interpreter's own (a serving image, or an environment that holds both); ``PATH``.
    """
    configured = os.environ.get(SERVING_PYTHON_VARIABLE)
    if configured:
        folder = Path(configured).parent
        if not (folder / MICROSERVICE).is_file():
            raise FileNotFoundError(f"{SERVING_PYTHON_VARIABLE}={configured}: no {MICROSERVICE} beside it "
                                    f"(point it at the python of an environment with seldon-core installed)")
        return folder
    for folder in (SERVING.python.parent, Path(sys.executable).parent):
        if (folder / MICROSERVICE).is_file():
            return folder
    on_path = shutil.which(MICROSERVICE)
    if on_path:
        return Path(on_path).parent
    raise FileNotFoundError(f"no serving environment: {SERVING.venv}/bin/{MICROSERVICE} is missing "
                            f"(run `make install`, or set {SERVING_PYTHON_VARIABLE})")


def serving_python() -> Path:
    """The python of the serving environment (see :func:`serving_bin`)."""
    folder = serving_bin()
    configured = os.environ.get(SERVING_PYTHON_VARIABLE)
    return Path(configured) if configured else folder / "python"
