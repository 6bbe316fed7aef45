"""Fixtures shared by every part: the real MovieLens copy beside the repo, and quick trained models."""

from __future__ import annotations

from pathlib import Path

import pytest

from funflix import paths


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    shared = paths.shared_movielens()
    if shared is None or not (shared / "ml-latest-small" / "ratings.csv").is_file():
        pytest.fail("../shared/movielens/ml-latest-small is required by the tests")
    return shared / "ml-latest-small"


@pytest.fixture(scope="session")
def prepared(movielens_dir):
    """ml-latest-small loaded, split and indexed (the foundation every model test uses)."""
    from funflix.models.pipeline import prepare

    return prepare(path=movielens_dir)


@pytest.fixture(scope="session")
def quick_models_root(tmp_path_factory, prepared) -> Path:
    """Both arms trained with the quick configs into a temporary artifact root."""
    from funflix.models.pipeline import train_quick

    return train_quick(tmp_path_factory.mktemp("models"), prepared)


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """An empty FUNFLIX_HOME so a test never touches ./var."""
    monkeypatch.setenv("FUNFLIX_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (`make install` installs Debian's postgresql): the
    website's event store and the serving components' shared ledger."""
    from website.postgres_server import PostgresServer, postgres_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL binaries not installed: run `make install` (apt-get install postgresql)")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def interleaving_values(tmp_path_factory) -> Path:
    """A copy of the chart's values.yaml with ``experiment.design: interleaving``."""
    import yaml

    from funflix.serving.experiment_config import VALUES_FILE

    values = yaml.safe_load(VALUES_FILE.read_text())
    values["experiment"]["design"] = "interleaving"
    path = tmp_path_factory.mktemp("interleaving-values") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


# The real test cluster's fixtures (cluster, cluster_images, namespace): see tests/cluster/fixtures.py.
pytest_plugins = ["cluster.fixtures"]
