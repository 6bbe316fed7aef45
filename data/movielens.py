"""Load and validate MovieLens CSV releases (ml-latest-small, ml-25m share one layout).

Bad files stop with a :class:`DataFormatError` naming the file, the line and the problem.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from funflix.data.sources import resolve_dataset

RATINGS_COLUMNS = ("userId", "movieId", "rating", "timestamp")
MOVIES_COLUMNS = ("movieId", "title", "genres")
NO_GENRES = "(no genres listed)"
RATING_MIN, RATING_MAX = 0.5, 5.0
_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


class DataFormatError(ValueError):
    """A MovieLens file that does not have the expected layout or values."""

    def __init__(self, path: Path, line: int | None, problem: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as exc:
        raise DataFormatError(path, None, f"not a valid CSV file ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError(path, 1, "file is empty") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(path, 1, f"missing column(s) {missing}; header has {list(frame.columns)}")
    return frame[list(columns)]


def _first_bad(mask: np.ndarray) -> int:
    """CSV line number (1 = header) of the first row flagged in ``mask``."""
    return int(np.flatnonzero(mask)[0]) + 2


def _numeric(path: Path, frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    as_float = values.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(as_float)
    if kind == "int":
        bad |= np.where(bad, False, as_float % 1 != 0)
    if bad.any():
        line = _first_bad(bad)
        shown = raw.iloc[line - 2] or "<empty: truncated row?>"
        raise DataFormatError(path, line, f"column {column!r} must be {'an integer' if kind == 'int' else 'a number'}, got {shown!r}")
    return values.astype("int64" if kind == "int" else "float32")


def read_ratings(path: Path) -> pd.DataFrame:
    """Read and validate a ``ratings.csv`` file.

    Returns
    -------
    pandas.DataFrame
        Columns ``userId`` (int64), ``movieId`` (int64), ``rating`` (float32), ``timestamp`` (int64).
    """
    path = Path(path)
    frame = _read(path, RATINGS_COLUMNS)
    out = pd.DataFrame({column: _numeric(path, frame, column, "float" if column == "rating" else "int") for column in RATINGS_COLUMNS})
    out_of_range = ~out["rating"].between(RATING_MIN, RATING_MAX).to_numpy()
    if out_of_range.any():
        line = _first_bad(out_of_range)
        raise DataFormatError(path, line, f"rating {out['rating'].iloc[line - 2]} is outside [{RATING_MIN}, {RATING_MAX}]")
    for column in ("userId", "movieId"):
        negative = (out[column] < 0).to_numpy()
        if negative.any():
            raise DataFormatError(path, _first_bad(negative), f"column {column!r} must be a non-negative id")
    return out


def parse_year(title: str) -> int | None:
    """Release year from a MovieLens title such as ``"Heat (1995)"``, or None."""
    match = _YEAR.search(title)
    return int(match.group(1)) if match else None


def read_movies(path: Path) -> pd.DataFrame:
    """Read and validate a ``movies.csv`` file.

    Returns
    -------
    pandas.DataFrame
        Columns ``movieId`` (int64), ``title`` (str, year removed), ``genres`` (list[str]),
        ``year`` (nullable Int64), indexed by position.
    """
    path = Path(path)
    frame = _read(path, MOVIES_COLUMNS)
    ids = _numeric(path, frame, "movieId", "int")
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        line = _first_bad(duplicated)
        raise DataFormatError(path, line, f"movieId {ids.iloc[line - 2]} appears twice")
    empty_title = (frame["title"].str.strip() == "").to_numpy()
    if empty_title.any():
        raise DataFormatError(path, _first_bad(empty_title), "empty title (truncated row?)")
    titles = frame["title"].str.strip()
    genres = frame["genres"].map(lambda g: [] if g in ("", NO_GENRES) else g.split("|"))
    years = pd.array([parse_year(t) for t in titles], dtype="Int64")
    clean_titles = titles.str.replace(_YEAR, "", regex=True).str.strip()
    return pd.DataFrame({"movieId": ids, "title": clean_titles, "genres": genres, "year": years})


def load_ratings(path: str | Path | None = None, dataset: str = "ml-latest-small") -> pd.DataFrame:
    """Ratings of ``dataset`` from ``path`` (a folder or the CSV file) or the resolved source."""
    return read_ratings(_file(path, dataset, "ratings.csv"))


def load_movies(path: str | Path | None = None, dataset: str = "ml-latest-small") -> pd.DataFrame:
    """Movies of ``dataset`` from ``path`` (a folder or the CSV file) or the resolved source."""
    return read_movies(_file(path, dataset, "movies.csv"))


def _file(path: str | Path | None, dataset: str, name: str) -> Path:
    if path is not None and Path(path).suffix == ".csv":
        return Path(path)
    return resolve_dataset(dataset, path) / name
