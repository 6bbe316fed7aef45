"""The recommend request: ``{"jsonData": {"user_id": 42, "k": 10}}`` or ``{"data": {"ndarray": [[42]]}}``.

One parser shared by the router, the model component and the gateway, so every entry point
rejects the same bad input with the same message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_K = 10
MAX_USER_ID = 2**31 - 1


class InvalidRequest(ValueError):
    """Bad input from a client: answered with HTTP 400 and this message."""


@dataclass(frozen=True)
class RecommendRequest:
    """Who wants recommendations (``user_id``), how many (``k``), and optional cold-start ``genres``."""

    user_id: int
    k: int = DEFAULT_K
    genres: tuple[str, ...] = ()


def parse_features(features: object) -> RecommendRequest:
    """Parse what Seldon's wrapper hands a component: the jsonData dict or the ndarray."""
    if isinstance(features, dict):
        return _from_json_data(features)
    if isinstance(features, np.ndarray):
        return _from_ndarray(features)
    raise InvalidRequest("send jsonData {\"user_id\": <int>, \"k\": <int>} or data.ndarray [[user_id]]")


def parse_message(message: object) -> RecommendRequest:
    """Parse a whole Seldon message as JSON (what the gateway receives)."""
    if not isinstance(message, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if "jsonData" in message:
        if not isinstance(message["jsonData"], dict):
            raise InvalidRequest("jsonData must be an object like {\"user_id\": 42, \"k\": 10}")
        return _from_json_data(message["jsonData"])
    data = message.get("data")
    if isinstance(data, dict) and "ndarray" in data:
        try:
            array = np.array(data["ndarray"])
        except ValueError:
            raise InvalidRequest("data.ndarray must be a rectangular array like [[42]]") from None
        return _from_ndarray(array)
    raise InvalidRequest("send jsonData {\"user_id\": <int>, \"k\": <int>} or data.ndarray [[user_id]]")


def _from_json_data(payload: dict) -> RecommendRequest:
    if "user_id" not in payload:
        raise InvalidRequest("missing user_id in jsonData")
    user_id = _integer(payload["user_id"], "user_id", 0, MAX_USER_ID)
    k = _integer(payload.get("k", DEFAULT_K), "k", 1, MAX_USER_ID)
    genres = payload.get("genres", [])
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise InvalidRequest("genres must be a list of genre names")
    return RecommendRequest(user_id, k, tuple(genres))


def _from_ndarray(array: np.ndarray) -> RecommendRequest:
    if array.ndim != 2 or array.shape[0] != 1 or array.shape[1] not in (1, 2):
        raise InvalidRequest(f"data.ndarray must be [[user_id]] or [[user_id, k]], got shape {list(array.shape)}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise InvalidRequest("data.ndarray must hold numbers: [[user_id]] or [[user_id, k]]")
    row = array[0].tolist()
    user_id = _integer(row[0], "user_id", 0, MAX_USER_ID)
    k = _integer(row[1], "k", 1, MAX_USER_ID) if len(row) == 2 else DEFAULT_K
    return RecommendRequest(user_id, k)


def _integer(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidRequest(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be in [{low}, {high}], got {value}")
    return value
