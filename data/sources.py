"""Where MovieLens comes from, in order: an explicit path, the cache, ../shared, a GroupLens download.

Downloads are verified against the MD5 file GroupLens publishes next to each zip
(``<name>.zip.md5``) before anything is extracted into the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import requests
from tqdm import tqdm

from funflix import paths

log = logging.getLogger(__name__)

GROUPLENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"
DATASETS = ("ml-latest-small", "ml-latest", "ml-25m", "ml-32m")
REQUIRED_FILES = ("ratings.csv", "movies.csv")


class ChecksumError(ValueError):
    """A download whose content does not match its published checksum."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def resolve_dataset(name: str = "ml-latest-small", path: str | Path | None = None, download: bool = True) -> Path:
    """Folder holding ``ratings.csv`` and ``movies.csv`` of MovieLens release ``name``.

    Parameters
    ----------
    name : str
        A GroupLens release name, e.g. ``"ml-latest-small"`` or ``"ml-25m"``.
    path : path-like, optional
        An explicit folder; used as is and must be complete.
    download : bool
        Whether to download from GroupLens when no local copy exists.
    """
    if path is not None:
        folder = Path(path)
        if not _complete(folder):
            raise FileNotFoundError(f"{folder}: expected {', '.join(REQUIRED_FILES)} in this folder")
        return folder
    if name not in DATASETS:
        raise ValueError(f"unknown MovieLens release {name!r}; choose one of {', '.join(DATASETS)}")
    cached = paths.sub("data") / name
    if _complete(cached):
        return cached
    shared = paths.shared_movielens()
    if shared is not None and _complete(shared / name):
        return shared / name
    if not download:
        raise FileNotFoundError(f"MovieLens {name} not found in {cached} or ../shared/movielens and download is off")
    return download_dataset(name, cached.parent)


def _fetch(url: str, dest: Path, session: requests.Session) -> None:
    with session.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length", 0)) or None
        with open(dest, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}", leave=False) as bar:
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_dataset(name: str, cache_dir: Path, base_url: str | None = None) -> Path:
    """Download ``<base_url>/<name>.zip``, verify its published MD5, extract to ``cache_dir/name``."""
    base_url = (base_url or os.environ.get("FUNFLIX_MOVIELENS_URL") or GROUPLENS_BASE_URL).rstrip("/")
    url = f"{base_url}/{name}.zip"
    log.info("downloading MovieLens %s from %s", name, url)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session, tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        try:
            published = session.get(f"{url}.md5", timeout=30)
            published.raise_for_status()
            _fetch(url, archive, session)
        except requests.RequestException as exc:
            raise FileNotFoundError(f"could not download MovieLens {name} from {url}: {exc}") from exc
        expected = published.text.split()[0].strip().lower() if published.text.split() else ""
        actual = file_md5(archive)
        if actual != expected:
            raise ChecksumError(f"{url}: MD5 {actual} does not match the published {expected or '<empty>'}; not extracted")
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(tmp)
        extracted = Path(tmp) / name
        if not _complete(extracted):
            raise FileNotFoundError(f"{url}: archive has no {name}/ folder with {', '.join(REQUIRED_FILES)}")
        target = cache_dir / name
        shutil.rmtree(target, ignore_errors=True)
        extracted.rename(target)
    log.info("MovieLens %s cached in %s", name, target)
    return target
