import re
import uuid

import pytest

from funflix.website import create_app
from funflix.website.catalog import Catalog

from .seldon_peer import SeldonPeer

REC_ITEM = re.compile(r'href="(/click/[^"]+)" data-testid="rec-item" data-movie-id="(\d+)"')


@pytest.fixture(autouse=True)
def _isolated_home(home):
    """Every website test runs with an empty FUNFLIX_HOME (the shared ``home`` fixture)."""
    return home


@pytest.fixture(scope="session")
def catalog():
    from funflix.data.movielens import load_movies, load_ratings

    return Catalog.from_frames(load_movies(), load_ratings())


@pytest.fixture
def peer():
    with SeldonPeer() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The event store's URL: a SQLite file, or a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.sqlite3'}"
    return request.getfixturevalue("postgres").create_database(f"funflix_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'events.sqlite3'}"


@pytest.fixture
def make_app(peer, catalog, sqlite_url, tmp_path):
    apps = []

    def build(**overrides):
        config = {"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": sqlite_url, "GATEWAY_URL": peer.url,
                  "HOUSEKEEPING_INTERVAL": 0, "GATEWAY_RETRY_AFTER": 0.0, "CATALOG": catalog,
                  "MODELS_ROOT": str(tmp_path / "no-models"), "EXPERIMENT_CACHE_SECONDS": 0.0, **overrides}
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["funflix"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class Actions:
    """What a visitor does: sign in, open home and read the recommended row, click."""

    def __init__(self, client):
        self._client = client

    def signin(self, user_id=1):
        response = self._client.post("/signin", data={"user_id": str(user_id)})
        assert response.status_code == 302, response.data
        return response

    def home(self):
        response = self._client.get("/")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        links = [(href, int(movie)) for href, movie in REC_ITEM.findall(html)]
        impression = re.search(r'data-impression-id="([0-9a-f]+)"', html).group(1)
        return html, impression, links


@pytest.fixture
def actions(client):
    return Actions(client)
