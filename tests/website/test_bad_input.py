"""Bad input gets a 4xx page naming the problem (JSON when asked), never a 500."""

import pytest


@pytest.mark.parametrize(("method", "url", "status"), [
    ("get", "/movie/999999999", 404),
    ("get", "/movie/99999999999999999999999999999", 404),
    ("get", "/movie/abc", 404),
    ("get", "/movie/-1", 404),
    ("get", "/genre/NoSuchGenre", 404),
    ("get", "/genre/Comedy?page=0", 400),
    ("get", "/genre/Comedy?page=x", 400),
    ("get", "/genre/Comedy?page=9999", 404),
    ("get", "/search?q=" + "a" * 101, 400),
    ("get", "/search?q=" + "a" * 5000, 414),
    ("get", "/signin?page=-3", 400),
    ("get", "/poster/0.svg", 404),
    ("get", "/click/garbage/1", 400),
    ("get", "/click/a.b.c/99999999999999999999999", 400),
    ("post", "/", 405),
    ("get", "/signout", 405),
    ("get", "/nowhere", 404),
])
def test_bad_urls_get_4xx_pages(client, method, url, status):
    response = getattr(client, method)(url)
    assert response.status_code == status
    assert 'data-testid="error"' in response.get_data(as_text=True)


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"user_id": "999999"}, 404, "no MovieLens member 999999"),
    ({"user_id": "12abc"}, 400, "whole number"),
    ({"user_id": "9" * 40}, 400, "whole number"),
    ({}, 400, "whole number"),
    ({"new_visitor": "1", "genres": ["Comedy", "Knitting"]}, 400, "Unknown genre(s): Knitting"),
    ({"new_visitor": "1", "genres": ["Comedy", "Drama", "War", "Crime", "Action", "Horror"]}, 400, "at most 5"),
])
def test_unknown_or_malformed_members_are_refused(client, form, status, message):
    response = client.post("/signin", data=form)
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_oversized_body_is_413(client):
    assert client.post("/signin", data={"user_id": "1" * 100_000}).status_code == 413


def test_click_on_an_item_outside_the_row_is_400_and_not_counted(actions, client, peer):
    actions.signin(2)
    _, _, links = actions.home()
    token = links[0][0].split("/")[2]
    response = client.get(f"/click/{token}/424242")
    assert response.status_code == 400 and "not part of this recommendation row" in response.get_data(as_text=True)
    assert peer.rewards() == []


def test_errors_answer_json_when_asked(client):
    response = client.get("/movie/0", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not Found", "status": 404, "message": "There is no movie with id 0."}
