"""HMAC-SHA256 signatures: channel auth, user sign-in, HTTP API requests, webhooks.

We always sign the exact strings received (never re-serialised JSON) and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from tidings.protocol.errors import ApiError

TIMESTAMP_WINDOW_SECONDS = 600
EMPTY_BODY_MD5 = hashlib.md5(b"").hexdigest()


def sign(secret: str, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    # hmac.digest is the one-shot C path: no HMAC object, about half the cost of hmac.new.
    return hmac.digest(secret.encode(), data, "sha256").hex()


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
    pairs = sorted((k.lower(), v) for k, v in params if k != "auth_signature")
    query = "&".join(f"{k}={v}" for k, v in pairs)
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
) -> None:
    """Raise ApiError(401) unless the request carries a valid signature for this app."""
    query = dict(params)
    missing = [
        p
        for p in ("auth_key", "auth_timestamp", "auth_version", "auth_signature")
        if p not in query
    ]
    if missing:
        raise ApiError(401, f"Missing authentication parameters: {', '.join(missing)}")
    if query["auth_key"] != key:
        raise ApiError(401, f"Unknown auth_key {query['auth_key']!r} for this app")
    if query["auth_version"] != "1.0":
        raise ApiError(401, f"Unsupported auth_version {query['auth_version']!r}; use 1.0")
    try:
        timestamp = int(query["auth_timestamp"])
    except ValueError:
        raise ApiError(401, "auth_timestamp must be a Unix time in seconds") from None
    if abs(now - timestamp) > TIMESTAMP_WINDOW_SECONDS:
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
        if not hmac.compare_digest(actual, body_md5):
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
