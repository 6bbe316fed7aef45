"""The gateway down, slow or answering without routing: fast fallback rows in no arm."""

import time

import pytest

from funflix.website import store


@pytest.mark.parametrize("mode", ["down", "slow", "no_routing"])
def test_fallback_row_is_fast_marked_and_in_no_arm(make_app, peer, mode):
    peer.mode, peer.delay = mode, 5.0
    app = make_app(GATEWAY_TIMEOUT=0.2)
    client = app.test_client()
    client.post("/signin", data={"user_id": "2"})
    started = time.perf_counter()
    response = client.get("/")
    elapsed = time.perf_counter() - started
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and elapsed < 2.0  # the peer would take 5 s
    assert 'data-testid="fallback-notice"' in html and 'data-fallback="true"' in html and 'data-arm=""' in html
    href = html.split('data-testid="rec-item"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert client.get(href).status_code == 302  # clicking a fallback item still opens the movie
    assert store.load_impressions(app.config["DATABASE_URL"]).empty
    peer.mode = "ok"
    assert peer.rewards() == []
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "funflix_website_fallback_impressions_total" in metrics
    assert 'funflix_website_impressions_total{arm="control"}' not in metrics


def test_after_a_failure_the_gateway_is_skipped_then_retried(make_app, peer):
    peer.mode = "down"
    app = make_app(GATEWAY_RETRY_AFTER=0.3)
    client = app.test_client()
    client.post("/signin", data={"user_id": "2"})
    client.get("/")
    peer.mode = "ok"
    calls = peer.predictions
    assert 'data-fallback="true"' in client.get("/").get_data(as_text=True)
    assert peer.predictions == calls  # skipped while the circuit is open
    time.sleep(0.35)
    assert 'data-fallback="false"' in client.get("/").get_data(as_text=True)


def test_an_event_store_failure_is_a_503_not_an_uncounted_row(app, client, peer):
    client.post("/signin", data={"user_id": "2"})
    with app.extensions["funflix"].engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE impressions RENAME TO impressions_gone")
    response = client.get("/")
    assert response.status_code == 503 and "event store is unavailable" in response.get_data(as_text=True)
    assert peer.predictions == 1 and peer.rewards() == []
