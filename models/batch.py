"""Batch recommendations: top-k for many users at once, streamed to Parquet or CSV.

Users are scored a chunk at a time (one matrix product per chunk, history and non-candidates
masked, :func:`top_k_columns` per row), so memory is bounded by the chunk, not by the number of
users. Each user gets exactly what :meth:`Recommender.recommend` would give them without genres:
their personal list, or the popularity list when the model was not trained on them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from funflix.models.recommender import Recommender, top_k_columns

FORMATS = {".parquet": "parquet", ".csv": "csv"}
COLUMNS = ["user_id", "rank", "movie_id", "score", "strategy"]
CHUNK_BYTES = 256 * 2**20  # working memory per chunk
_BYTES_PER_SCORE = 4 + 4 + 2  # scores, the product before masking, the candidate mask


def output_format(path: str | Path) -> str:
    """``"parquet"`` or ``"csv"`` from the file name; ValueError for anything else."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"output file must end in {' or '.join(FORMATS)}, got {path.name!r}")
    if not path.parent.is_dir():
        raise ValueError(f"output folder {path.parent} does not exist")
    return fmt


def chunk_users(n_items: int, budget: int = CHUNK_BYTES) -> int:
    """Users per chunk so that one chunk's working arrays fit in ``budget`` bytes."""
    return max(1, budget // (n_items * _BYTES_PER_SCORE))


def read_user_ids(path: str | Path) -> np.ndarray:
    """User ids from a file with one integer per line (an optional ``user_id``/``userId`` header;
    blank lines skipped); duplicates keep their first place."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"users file {path} does not exist")
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or (number == 1 and text in ("user_id", "userId")):
            continue
        try:
            ids.append(int(text))
        except ValueError:
            raise ValueError(f"{path.name}:{number}: expected an integer user id, got {text!r}") from None
    if not ids:
        raise ValueError(f"{path.name}: no user ids")
    return pd.unique(np.asarray(ids, dtype=np.int64))


def recommend_chunk(recommender: Recommender, user_ids: np.ndarray, k: int) -> pd.DataFrame:
    """Top-``k`` rows (``COLUMNS``) for ``user_ids``, in their order, each user's list best first."""
    rec = recommender
    rows = np.searchsorted(rec.user_ids, user_ids)
    in_model = (rows < len(rec.user_ids)) & (rec.user_ids[np.minimum(rows, len(rec.user_ids) - 1)] == user_ids)
    personal = in_model.copy()
    personal[in_model] = rec.known_users[rows[in_model]]
    scores = np.empty((len(user_ids), rec.n_items), dtype=np.float32)
    scores[personal] = rec.user_embeddings[rows[personal]] @ rec.item_embeddings.T + rec.item_biases
    scores[~personal] = rec.popularity
    scores[:, ~rec.candidates] = -np.inf
    history = rec.seen[rows[in_model]].tocoo()
    scores[np.flatnonzero(in_model)[history.row], history.col] = -np.inf
    top = top_k_columns(scores, k)
    top_scores = np.take_along_axis(scores, top, axis=1)
    keep = np.isfinite(top_scores)
    strategy = np.where(personal, "personal", "popularity")
    return pd.DataFrame({
        "user_id": np.repeat(user_ids, keep.sum(axis=1)),
        "rank": np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)[keep],
        "movie_id": rec.item_ids[top[keep]],
        "score": top_scores[keep],
        "strategy": np.repeat(strategy, keep.sum(axis=1)),
    }, columns=COLUMNS)


def recommend_chunks(recommender: Recommender, user_ids: np.ndarray, k: int, chunk_size: int,
                     progress: bool = True) -> Iterator[pd.DataFrame]:
    """:func:`recommend_chunk` over ``user_ids`` in chunks of ``chunk_size``, with a progress bar."""
    with tqdm(total=len(user_ids), desc=f"recommend {recommender.name}", unit="user", disable=not progress) as bar:
        for start in range(0, len(user_ids), chunk_size):
            chunk = user_ids[start:start + chunk_size]
            yield recommend_chunk(recommender, chunk, k)
            bar.update(len(chunk))


class _Writer:
    """Appends frames to a CSV or Parquet file (one Parquet row group per frame)."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt, self._parquet, self._first = path, fmt, None, True

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            frame.to_csv(self.path, mode="w" if self._first else "a", header=self._first, index=False,
                         float_format="%.9g")  # 9 digits: float32 round-trips exactly
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None


def write_recommendations(recommender: Recommender, out: str | Path, k: int = 10,
                          user_ids: np.ndarray | None = None, chunk_size: int | None = None,
                          progress: bool = True) -> dict:
    """Write top-``k`` for ``user_ids`` (default: every user in the artifact) to ``out``.

    The file (Parquet or CSV by extension) has one row per recommended item, ``COLUMNS``:
    ``user_id``, ``rank`` (1 = best), ``movie_id``, ``score`` and ``strategy`` (``personal`` or
    ``popularity``). It is written under a temporary name and renamed when complete, so a failed
    or interrupted run leaves no partial file. Returns a summary of the run.
    """
    out = Path(out)
    fmt = output_format(out)
    recommender._check_k(k)
    users = recommender.user_ids if user_ids is None else np.asarray(user_ids, dtype=np.int64)
    if len(users) == 0:
        raise ValueError("no users to recommend for")
    chunk_size = chunk_size or chunk_users(recommender.n_items)
    if chunk_size < 1:
        raise ValueError(f"chunk size must be >= 1, got {chunk_size}")
    started = time.perf_counter()
    partial = out.with_name(f".{out.name}.partial")
    writer, rows, cold = _Writer(partial, fmt), 0, 0
    try:
        for frame in recommend_chunks(recommender, users, k, chunk_size, progress):
            writer.write(frame)
            rows += len(frame)
            cold += int((frame.loc[frame["rank"] == 1, "strategy"] != "personal").sum())
        writer.close()
        os.replace(partial, out)
    finally:
        writer.close()
        partial.unlink(missing_ok=True)
    return {"path": str(out), "format": fmt, "arm": recommender.name, "version": recommender.version, "k": k,
            "users": int(len(users)), "cold_start_users": cold, "rows": rows, "chunk_size": chunk_size,
            "seconds": round(time.perf_counter() - started, 3)}

