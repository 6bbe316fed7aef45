"""Where Funflix keeps its build outputs (data cache, model artifacts, event store, logs).

Everything lives under one git-ignored folder, ``$FUNFLIX_HOME`` (default ``./var``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def home() -> Path:
    """The root folder for build outputs, created on first use."""
    path = Path(os.environ.get("FUNFLIX_HOME", REPO_ROOT / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sub(name: str) -> Path:
    """A sub-folder of :func:`home`, created on first use."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_movielens() -> Path | None:
    """The read-only MovieLens copy beside the repo (``../shared/movielens``), if present."""
    candidates = [os.environ.get("FUNFLIX_SHARED_MOVIELENS"), REPO_ROOT.parent / "shared" / "movielens"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
