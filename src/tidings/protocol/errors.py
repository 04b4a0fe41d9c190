"""Error and close codes of the Pusher protocol, and the exception that carries them."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """Codes used in ``pusher:error`` frames and WebSocket close frames.

    4000-4099 make pusher-js give up, 4100-4199 retry after a pause, 4200-4299 retry at once.
    4300+ are error frames only: pusher-js treats a 43xx *close* as final, so we never
    close with one.
    """

    TLS_ONLY = 4000
    APP_NOT_FOUND = 4001
    APP_DISABLED = 4003
    OVER_CONNECTION_QUOTA = 4004
    PATH_NOT_FOUND = 4005
    INVALID_VERSION = 4006
    UNSUPPORTED_PROTOCOL = 4007
    NO_PROTOCOL_VERSION = 4008
    UNAUTHORIZED = 4009
    OVER_CAPACITY = 4100
    RECONNECT_NOW = 4200
    PONG_NOT_RECEIVED = 4201
    INACTIVE = 4202
    CLIENT_EVENT_REJECTED = 4301
    WATCHLIST_LIMIT = 4302
    REPLAY_REJECTED = 4303


class PusherError(Exception):
    """A protocol violation to report to the client as ``pusher:error``.

    ``code`` is ``None`` for errors the hosted service also reports without a code (malformed
    frames), so pusher-js surfaces them as connection errors without acting on them.
    ``close`` says whether the connection must be closed with that code afterwards; ``channel``
    names the channel the error is about, when there is one (a refused ``tidings:replay``).
    """

    def __init__(
        self, code: Code | None, message: str, *, close: bool = False, channel: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.channel = channel
        self.close = close and code is not None


class RateLimited(PusherError):
    """A client event over the app's per-connection rate: refused, and counted as such."""


class SubscriptionError(Exception):
    """A refused subscription, reported on the channel as ``pusher:subscription_error``."""

    def __init__(self, channel: str, kind: str, message: str, status: int) -> None:
        super().__init__(message)
        self.channel = channel
        self.kind = kind
        self.message = message
        self.status = status


class ApiError(Exception):
    """An HTTP API request refused with ``status``; ``message`` says what was wrong."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
