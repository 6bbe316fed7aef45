"""Home rows, clicks and feedback through the site, against a real HTTP Seldon peer."""

import re
import time

import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from funflix.website import store
from funflix.website.tokens import SALT


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/signin")


def test_home_row_is_one_stored_impression_with_the_served_response(app, actions, peer):
    actions.signin(3)
    html, impression_id, links = actions.home()
    assert len(links) == app.config["RECS_K"]
    assert 'data-arm="challenger"' in html and 'data-fallback="false"' in html
    with app.extensions["funflix"].engine.connect() as conn:
        row = store.get_impression(conn, impression_id)
    assert row.arm == "challenger" and row.user_id == 3
    assert row.items == [movie for _, movie in links]
    assert row.response["meta"]["routing"] == {"ab-router": 1}
    assert row.request == {"jsonData": {"user_id": 3, "k": 10}}


def test_click_records_once_sends_one_reward_and_opens_the_movie(app, actions, client, peer):
    actions.signin(2)
    _, impression_id, links = actions.home()
    href, movie = links[3]
    response = client.get(href)
    assert response.status_code == 302 and response.location.endswith(f"/movie/{movie}")
    assert client.get(href).status_code == 302  # double click
    assert client.get(links[5][0]).status_code == 302  # a second item of the same row
    assert peer.rewards() == [("control", 1)]
    sent = peer.feedback[0]
    assert sent["response"]["meta"]["routing"] == {"ab-router": 0}
    assert sent["request"] == {"jsonData": {"user_id": 2, "k": 10}}
    frame = store.load_impressions(app.config["DATABASE_URL"])
    assert frame[["impression_id", "arm", "clicked", "feedback_state"]].values.tolist() == [
        [impression_id, "control", 1, "sent"]]
    page = client.get(response.location)
    assert page.status_code == 200 and f'data-movie-id="{movie}"' in page.get_data(as_text=True)


def test_unclicked_rows_get_reward_zero_on_next_view_and_sign_out(actions, client, peer):
    actions.signin(4)
    actions.home()
    actions.home()
    assert peer.rewards() == [("control", 0)]
    client.post("/signout")
    assert peer.rewards() == [("control", 0), ("control", 0)]


def test_stale_rows_get_reward_zero_from_housekeeping(make_app, peer):
    app = make_app(IMPRESSION_TTL=0.0)
    client = app.test_client()
    client.post("/signin", data={"user_id": "5"})
    client.get("/")
    assert peer.rewards() == []
    assert app.extensions["funflix"].housekeeping() == (1, 0)
    assert peer.rewards() == [("challenger", 0)]


def test_tokens_are_refused_when_forged_foreign_or_expired(app, actions, make_app, peer):
    actions.signin(2)
    _, impression_id, links = actions.home()
    href, movie = links[0]
    token = href.split("/")[2]
    forged = app.test_client()
    forged.post("/signin", data={"user_id": "2"})
    assert forged.get(f"/click/{token[:-2]}xx/{movie}").status_code == 400
    other = app.test_client()
    other.post("/signin", data={"user_id": "6"})
    assert other.get(href).status_code == 403
    assert app.test_client().get(href).status_code == 403  # signed out

    class Old(TimestampSigner):
        def get_timestamp(self):
            return super().get_timestamp() - 10_000

    expired = URLSafeTimedSerializer("test-secret", salt=SALT, signer=Old).dumps([impression_id, 2])
    assert forged.get(f"/click/{expired}/{movie}").status_code == 410
    other_key = URLSafeTimedSerializer("another-secret", salt=SALT).dumps([impression_id, 2])
    assert forged.get(f"/click/{other_key}/{movie}").status_code == 400
    assert peer.rewards() == []
    with app.extensions["funflix"].engine.connect() as conn, conn.begin():
        assert conn.execute(sa.select(sa.func.count()).select_from(store.clicks)).scalar() == 0


def test_new_visitor_gets_a_cold_start_row(actions, client, peer):
    response = client.post("/signin", data={"new_visitor": "1"})
    assert response.status_code == 302
    html, _, links = actions.home()
    assert "New visitor" in html and 'data-strategy="popularity"' in html and len(links) == 10


def test_a_new_visitors_genres_reach_the_cold_start(app, actions, client, peer):
    client.post("/signin", data={"new_visitor": "1", "genres": ["Comedy", "Sci-Fi"]})
    html, impression_id, _ = actions.home()
    assert 'data-strategy="features"' in html
    with app.extensions["funflix"].engine.connect() as conn:
        assert store.get_impression(conn, impression_id).request["jsonData"]["genres"] == ["Comedy", "Sci-Fi"]


def test_undelivered_feedback_is_retried_from_the_store_exactly_once(app, actions, client, peer):
    actions.signin(2)
    _, _, links = actions.home()
    peer.mode = "down"
    client.get(links[0][0])
    assert peer.rewards() == []
    funflix = app.extensions["funflix"]
    with funflix.engine.connect() as conn, conn.begin():
        conn.execute(store.feedback.update().values(next_attempt_at=store.utcnow()))
    assert funflix.housekeeping() == (0, 1)
    peer.mode = "ok"
    with funflix.engine.connect() as conn, conn.begin():
        conn.execute(store.feedback.update().values(next_attempt_at=store.utcnow()))
    assert funflix.housekeeping() == (1, 0)
    assert funflix.housekeeping() == (0, 0)
    assert peer.rewards() == [("control", 1)]


def test_pages_browse_search_and_similar(client, actions):
    assert client.get("/signin?q=Comedy").status_code == 200
    genres = client.get("/genres").get_data(as_text=True)
    assert 'data-genre="Comedy"' in genres
    comedy = client.get("/genre/Comedy?page=2")
    assert comedy.status_code == 200 and "Page 2 of" in comedy.get_data(as_text=True)
    found = client.get("/search?q=matrix").get_data(as_text=True)
    assert 'data-movie-id="2571"' in found and "The Matrix" in found
    movie = client.get("/movie/2571").get_data(as_text=True)
    for element in ('id="movie-title"', 'id="movie-year">1999', 'id="movie-genres"', 'id="movie-rating"',
                    'data-testid="similar-row" data-source="genres"'):
        assert element in movie
    assert len(re.findall(r'data-testid="movie-card"', movie)) == 12
    poster = client.get("/poster/2571.svg")
    assert poster.mimetype == "image/svg+xml" and b"Matrix" in poster.data


def test_more_like_this_uses_the_trained_model(make_app, quick_models_root):
    app = make_app(MODELS_ROOT=str(quick_models_root))
    page = app.test_client().get("/movie/1").get_data(as_text=True)
    assert 'data-source="model"' in page
    from funflix.models.artifacts import load_recommender

    expected = load_recommender("control", root=quick_models_root).similar_items(1, 12).items
    shown = [int(m) for m in re.findall(r'data-testid="movie-card" data-movie-id="(\d+)"', page)]
    assert shown == [m for m in expected if m in app.extensions["funflix"].catalog.movies]


def test_fast_url_helpers_match_the_url_map(app):
    from flask import url_for

    from funflix.website.browse import movie_url, poster_url

    with app.test_request_context("/"):
        assert movie_url(2571) == url_for("browse.movie", movie_id=2571)
        assert poster_url(2571) == url_for("browse.poster", movie_id=2571)


def test_the_site_runs_on_postgresql(make_app, postgres, peer):
    url = postgres.create_database("funflix_site")
    app = make_app(DATABASE_URL=url)
    client = app.test_client()
    client.post("/signin", data={"user_id": "2"})
    html = client.get("/").get_data(as_text=True)
    href = re.search(r'href="(/click/[^"]+)"', html).group(1)
    assert client.get(href).status_code == 302 and client.get(href).status_code == 302
    client.get("/")
    client.post("/signout")
    assert sorted(peer.rewards()) == [("control", 0), ("control", 1)]
    frame = store.load_impressions(url)
    assert frame["clicked"].tolist() == [1, 0] and set(frame["feedback_state"]) == {"sent"}


def test_the_housekeeper_thread_delivers_at_once_when_woken(make_app, peer):
    app = make_app(HOUSEKEEPING_INTERVAL=60.0)
    client = app.test_client()
    client.post("/signin", data={"user_id": "2"})
    href = re.search(r'href="(/click/[^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    client.get(href)
    deadline = time.monotonic() + 5
    while not peer.rewards() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert peer.rewards() == [("control", 1)]
