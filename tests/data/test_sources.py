"""The download path runs for real against a local HTTP server holding a GroupLens-shaped zip."""

import hashlib
import http.server
import threading
import zipfile
from functools import partial

import pytest

from funflix.data.sources import ChecksumError, download_dataset, resolve_dataset

RATINGS = "userId,movieId,rating,timestamp\r\n1,10,4.0,100\r\n"
MOVIES = "movieId,title,genres\r\n10,Ten (1990),Drama\r\n"


@pytest.fixture()
def grouplens(tmp_path):
    """Serve ``<name>.zip`` and ``<name>.zip.md5`` from a real loopback HTTP server."""
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "ml-tiny.zip", "w") as bundle:
        bundle.writestr("ml-tiny/ratings.csv", RATINGS)
        bundle.writestr("ml-tiny/movies.csv", MOVIES)
    digest = hashlib.md5((site / "ml-tiny.zip").read_bytes()).hexdigest()
    (site / "ml-tiny.zip.md5").write_text(f"{digest}  ml-tiny.zip\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_and_extracts(grouplens, tmp_path):
    _, url = grouplens
    folder = download_dataset("ml-tiny", tmp_path / "cache", base_url=url)
    assert (folder / "ratings.csv").read_text().replace("\r\n", "\n") == RATINGS.replace("\r\n", "\n")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ml-tiny"]


def test_download_with_wrong_checksum_extracts_nothing(grouplens, tmp_path):
    site, url = grouplens
    (site / "ml-tiny.zip.md5").write_text("0" * 32 + "  ml-tiny.zip\n")
    with pytest.raises(ChecksumError, match="does not match the published 0000"):
        download_dataset("ml-tiny", tmp_path / "cache", base_url=url)
    assert list((tmp_path / "cache").iterdir()) == []


def test_unreachable_download_names_the_url(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"could not download MovieLens ml-tiny from http://127.0.0.1:9/ml-tiny.zip"):
        download_dataset("ml-tiny", tmp_path / "cache", base_url="http://127.0.0.1:9")


def test_resolution_order(home, movielens_dir, tmp_path):
    assert resolve_dataset("ml-latest-small") == movielens_dir  # nothing cached: ../shared
    cached = home / "data" / "ml-latest-small"
    cached.mkdir(parents=True)
    for name in ("ratings.csv", "movies.csv"):
        (cached / name).write_text("x")
    assert resolve_dataset("ml-latest-small") == cached  # the cache wins over ../shared
    assert resolve_dataset("ml-latest-small", movielens_dir) == movielens_dir  # an explicit path wins
    with pytest.raises(FileNotFoundError, match="expected ratings.csv, movies.csv"):
        resolve_dataset("ml-latest-small", tmp_path)
    with pytest.raises(ValueError, match="unknown MovieLens release 'ml-1b'"):
        resolve_dataset("ml-1b")
