"""HMAC-SHA256 signatures: channel auth, user sign-in, HTTP API requests, webhooks.

We always sign the exact strings received (never re-serialised JSON) and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from tidings.protocol.errors import ApiError

TIMESTAMP_WINDOW_SECONDS = 600
_AUTH_PARAMS_IN_ORDER = ("auth_key", "auth_timestamp", "auth_version", "auth_signature")
_AUTH_PARAMS = frozenset(_AUTH_PARAMS_IN_ORDER)
EMPTY_BODY_MD5 = hashlib.md5(b"").hexdigest()


_BLOCK = 64  # SHA-256's block size, the HMAC key length (RFC 2104)
_INNER = bytes(byte ^ 0x36 for byte in range(256))
_OUTER = bytes(byte ^ 0x5C for byte in range(256))


@lru_cache(maxsize=1024)
def _keyed(secret: str) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with the key already absorbed. Copying them per
    message is HMAC done once per secret instead of per request: about half the cost of
    ``hmac.digest``, which also looks the algorithm up in OpenSSL on every call."""
    key = secret.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_INNER)), hashlib.sha256(key.translate(_OUTER))


def sign(secret: str, message: str | bytes) -> str:
    """HMAC-SHA256 of ``message`` with ``secret``, as lower-case hex."""
    inner_keyed, outer_keyed = _keyed(secret)
    inner = inner_keyed.copy()
    inner.update(message.encode() if isinstance(message, str) else message)
    outer = outer_keyed.copy()
    outer.update(inner.digest())
    return str(outer.hexdigest())


def _token_matches(key: str, secret: str, message: str, token: object) -> bool:
    if not isinstance(token, str):
        return False
    expected = f"{key}:{sign(secret, message)}"
    return hmac.compare_digest(expected.encode(), token.encode())


def channel_auth_string(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    if channel_data is None:
        return f"{socket_id}:{channel}"
    return f"{socket_id}:{channel}:{channel_data}"


def channel_auth_valid(
    key: str, secret: str, socket_id: str, channel: str, auth: object, channel_data: str | None
) -> bool:
    message = channel_auth_string(socket_id, channel, channel_data)
    return _token_matches(key, secret, message, auth)


def user_auth_valid(key: str, secret: str, socket_id: str, user_data: str, auth: object) -> bool:
    return _token_matches(key, secret, f"{socket_id}::user::{user_data}", auth)


def webhook_signature(secret: str, body: bytes) -> str:
    return sign(secret, body)


def api_string_to_sign(method: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    pairs = sorted([(k.lower(), v) for k, v in params if k != "auth_signature"])
    query = "&".join([f"{k}={v}" for k, v in pairs])
    return f"{method.upper()}\n{path}\n{query}"


def verify_api_request(
    *,
    key: str,
    secret: str,
    method: str,
    path: str,
    params: list[tuple[str, str]],
    body: bytes,
    now: float,
    query: dict[str, str] | None = None,
) -> None:
    """Raise ApiError(401) unless the request carries a valid signature for this app.

    ``query`` is ``dict(params)``, for a caller that has it already."""
    if query is None:
        query = dict(params)
    if not _AUTH_PARAMS.issubset(query):
        missing = [p for p in _AUTH_PARAMS_IN_ORDER if p not in query]
        raise ApiError(401, f"Missing authentication parameters: {', '.join(missing)}")
    if query["auth_key"] != key:
        raise ApiError(401, f"Unknown auth_key {query['auth_key']!r} for this app")
    if query["auth_version"] != "1.0":
        raise ApiError(401, f"Unsupported auth_version {query['auth_version']!r}; use 1.0")
    try:
        timestamp = int(query["auth_timestamp"])
        expired = abs(now - timestamp) > TIMESTAMP_WINDOW_SECONDS
    except (ValueError, OverflowError):  # OverflowError: more digits than a float holds
        raise ApiError(401, "auth_timestamp must be a Unix time in seconds") from None
    if expired:
        raise ApiError(
            401,
            f"Timestamp expired: Given timestamp ({timestamp}) not within "
            f"{TIMESTAMP_WINDOW_SECONDS}s of server time ({int(now)})",
        )
    body_md5 = query.get("body_md5")
    if body or body_md5 is not None:
        actual = hashlib.md5(body).hexdigest()
        if body_md5 is None:
            raise ApiError(401, "body_md5 is required when the request has a body")
        # As bytes: compare_digest refuses str holding non-ASCII, and a query may hold any.
        if not hmac.compare_digest(actual.encode(), body_md5.encode()):
            raise ApiError(401, f"body_md5 mismatch: the body's MD5 is {actual}")
    to_sign = api_string_to_sign(method, path, params)
    expected = sign(secret, to_sign)
    if not hmac.compare_digest(expected.encode(), query["auth_signature"].encode()):
        shown = to_sign.replace("\n", "\\n")
        raise ApiError(
            401,
            f'Invalid signature: you should have sent HmacSHA256Hex("{shown}", your_secret_key),'
            f' but you sent "{query["auth_signature"]}"',
        )
