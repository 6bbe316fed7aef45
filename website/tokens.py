"""Signed, expiring impression tokens carried by click links.

A token signs ``[impression_id, user_id]`` with the app's secret key (itsdangerous, HMAC-SHA1
with a purpose-specific salt) and a timestamp. The click view refuses a token that does not
verify (400), that is older than the impression lifetime (410), or whose user is not the
signed-in user (403).
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "funflix-impression-v1"


class TokenError(Exception):
    """A click token that must be refused; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ImpressionTokens:
    def __init__(self, secret_key: str, max_age: float):
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age = max_age

    def sign(self, impression_id: str, user_id: int) -> str:
        return self._serializer.dumps([impression_id, int(user_id)])

    def verify(self, token: str) -> tuple[str, int]:
        """``(impression_id, user_id)`` of a valid token; ``TokenError`` otherwise."""
        try:
            payload = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired as exc:
            raise TokenError("this recommendation link has expired", 410) from exc
        except BadSignature as exc:
            raise TokenError("this recommendation link is not valid", 400) from exc
        if (not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], str)
                or not isinstance(payload[1], int)):
            raise TokenError("this recommendation link is not valid", 400)
        return payload[0], payload[1]
