"""One parser for every entry point: the two request forms, and each bad input with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from funflix.serving.recommend_request import InvalidRequest, RecommendRequest, parse_features, parse_message


@pytest.mark.parametrize("message, expected", [
    ({"jsonData": {"user_id": 42, "k": 5}}, RecommendRequest(42, 5)),
    ({"jsonData": {"user_id": 42}}, RecommendRequest(42, 10)),
    ({"jsonData": {"user_id": 42.0, "k": 3}}, RecommendRequest(42, 3)),
    ({"jsonData": {"user_id": 7, "genres": ["Comedy"]}}, RecommendRequest(7, 10, ("Comedy",))),
    ({"data": {"ndarray": [[42]]}}, RecommendRequest(42, 10)),
    ({"data": {"ndarray": [[42, 4]]}}, RecommendRequest(42, 4)),
])
def test_both_request_forms_parse(message, expected):
    assert parse_message(message) == expected


@pytest.mark.parametrize("message, reason", [
    ([42], "JSON object"),
    ({"strData": "42"}, "send jsonData"),
    ({"jsonData": [42]}, "jsonData must be an object"),
    ({"jsonData": {"k": 3}}, "missing user_id"),
    ({"jsonData": {"user_id": "42"}}, "user_id must be an integer"),
    ({"jsonData": {"user_id": True}}, "user_id must be an integer"),
    ({"jsonData": {"user_id": 4.5}}, "user_id must be an integer"),
    ({"jsonData": {"user_id": -1}}, r"user_id must be in \[0"),
    ({"jsonData": {"user_id": 10**30}}, r"user_id must be in \[0"),
    ({"jsonData": {"user_id": 1, "k": 0}}, r"k must be in \[1"),
    ({"jsonData": {"user_id": 1, "k": None}}, "k must be an integer"),
    ({"jsonData": {"user_id": 1, "genres": "Comedy"}}, "genres must be a list"),
    ({"data": {"ndarray": [[1, 2, 3]]}}, "shape"),
    ({"data": {"ndarray": [[1], [2]]}}, "shape"),
    ({"data": {"ndarray": [["a"]]}}, "must hold numbers"),
    ({"data": {"ndarray": [[1], [2, 3]]}}, "rectangular|shape"),
])
def test_bad_requests_say_what_is_wrong(message, reason):
    with pytest.raises(InvalidRequest, match=reason):
        parse_message(message)


def test_component_features_parse_like_messages():
    assert parse_features(np.array([[5.0, 2.0]])) == RecommendRequest(5, 2)
    with pytest.raises(InvalidRequest):
        parse_features(b"42")
