"""Versioned model artifacts: ``<root>/<arm>/<version>/{arrays.npz, metadata.json}`` plus ``<root>/<arm>/LATEST``.

Serving loads a :class:`Recommender` from here without LightFM or retraining.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from funflix import paths
from funflix.models.recommender import Recommender

ARRAYS = "arrays.npz"
METADATA = "metadata.json"
LATEST = "LATEST"
_DENSE = ("user_ids", "item_ids", "user_embeddings", "item_embeddings", "item_biases", "known_users", "candidates", "popularity")
_SPARSE = ("seen", "item_genres")


def models_root(root: str | Path | None = None) -> Path:
    return Path(root) if root is not None else paths.sub("models")


def save_recommender(recommender: Recommender, metadata: dict, root: str | Path | None = None,
                     publish: bool = True) -> Path:
    """Write ``recommender`` as ``<root>/<name>/<version>/``; ``publish`` points ``LATEST`` at it."""
    arm_dir = models_root(root) / recommender.name
    folder = arm_dir / recommender.version
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {key: getattr(recommender, key) for key in _DENSE}
    for key in _SPARSE:
        matrix = getattr(recommender, key).tocsr()
        arrays.update({f"{key}_data": matrix.data, f"{key}_indices": matrix.indices,
                       f"{key}_indptr": matrix.indptr, f"{key}_shape": np.array(matrix.shape)})
    np.savez(folder / ARRAYS, **arrays)
    document = {**metadata, "name": recommender.name, "version": recommender.version, "genres": recommender.genres}
    write_metadata(folder, document)
    if publish:
        _atomic_write(arm_dir / LATEST, recommender.version)
    return folder


def write_metadata(folder: Path, document: dict) -> None:
    """(Re)write an artifact's ``metadata.json`` atomically."""
    _atomic_write(folder / METADATA, json.dumps(document, indent=2, sort_keys=True, default=str))


def latest_version(arm: str, root: str | Path | None = None) -> str | None:
    """The version ``arm``'s ``LATEST`` names, or None before its first published model."""
    pointer = models_root(root) / arm / LATEST
    return pointer.read_text().strip() if pointer.is_file() else None


def _atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file and rename; the file gets the umask's usual mode (a temporary file is
    0600, which a serving image's non-root user could not read)."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
        tmp.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)
    os.replace(tmp.name, path)


def artifact_dir(arm: str, version: str = "latest", root: str | Path | None = None) -> Path:
    """Folder of ``arm``'s artifact ``version`` ("latest" follows the ``LATEST`` pointer)."""
    arm_dir = models_root(root) / arm
    if version == "latest":
        version = latest_version(arm, root)
        if version is None:
            raise FileNotFoundError(f"no trained model for arm {arm!r} in {arm_dir.parent} (run `funflix train`)")
    folder = arm_dir / version
    if not (folder / ARRAYS).is_file():
        raise FileNotFoundError(f"no artifact {arm}/{version} in {arm_dir.parent}")
    return folder


def read_metadata(arm: str, version: str = "latest", root: str | Path | None = None) -> dict:
    return json.loads((artifact_dir(arm, version, root) / METADATA).read_text())


def load_recommender(arm: str, version: str = "latest", root: str | Path | None = None) -> Recommender:
    """Load a trained arm for serving."""
    folder = artifact_dir(arm, version, root)
    metadata = json.loads((folder / METADATA).read_text())
    with np.load(folder / ARRAYS) as arrays:
        kwargs = {key: arrays[key] for key in _DENSE}
        for key in _SPARSE:
            shape = tuple(arrays[f"{key}_shape"])
            kwargs[key] = sp.csr_matrix(
                (arrays[f"{key}_data"], arrays[f"{key}_indices"], arrays[f"{key}_indptr"]), shape=shape)
    return Recommender(name=metadata["name"], version=metadata["version"], genres=metadata["genres"], **kwargs)
