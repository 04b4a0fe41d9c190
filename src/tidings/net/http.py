"""HTTP/1.1 messages as the network layer hands them over: a parsed request, a response to send.

Parsing itself is httptools' (llhttp, the parser uvicorn uses); this module only holds what it
produced and turns a ``Response`` into bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote_plus

_REASONS = {status.value: status.phrase for status in HTTPStatus}


@dataclass(slots=True)
class Request:
    method: str
    path: str  # as sent, still percent-encoded, without the query
    query_string: str
    headers: dict[str, str]  # names in lower case; a repeated header's values joined by ", "
    body: bytes = b""
    keep_alive: bool = True
    # The client's address: the peer's, or what a trusted proxy said (PROXY, X-Forwarded-For).
    client: str = ""
    _query: list[tuple[str, str]] | None = field(default=None, repr=False)

    @property
    def query_items(self) -> list[tuple[str, str]]:
        """Decoded ``(name, value)`` pairs in order, blank values kept."""
        if self._query is None:
            self._query = parse_query(self.query_string)
        return self._query

    @property
    def query(self) -> dict[str, str]:
        """The last value of each name; a new dict on each call."""
        return dict(self.query_items)


def parse_query(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, minus its cost for the plain pairs that
    make up an API request's query (hex signatures, digits, keys): decoding only when needed."""
    pairs = []
    for field_ in query.split("&"):
        if not field_:
            continue
        name, _, value = field_.partition("=")
        if "%" in field_ or "+" in field_:
            name, value = unquote_plus(name), unquote_plus(value)
        pairs.append((name, value))
    return pairs


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] | None = None


_SERIALIZED: dict[tuple[int, bytes, str, bool], bytes] = {}  # small header-less responses
_SERIALIZED_MAX = 256


def serialize(response: Response, keep_alive: bool) -> bytes:
    """The response's bytes; ``Content-Length`` always, so keep-alive clients know where it ends.

    Small responses without extra headers (``{}``, most answers) are built once and reused."""
    if response.headers is None and len(response.body) <= 64:
        key = (response.status, response.body, response.content_type, keep_alive)
        cached = _SERIALIZED.get(key)
        if cached is None:
            if len(_SERIALIZED) >= _SERIALIZED_MAX:
                _SERIALIZED.clear()
            cached = _SERIALIZED[key] = _serialize(response, keep_alive)
        return cached
    return _serialize(response, keep_alive)


def _serialize(response: Response, keep_alive: bool) -> bytes:
    status = response.status
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
    ]
    if not keep_alive:
        head.append("Connection: close\r\n")
    if response.headers:
        head.extend(f"{name}: {value}\r\n" for name, value in response.headers.items())
    head.append("\r\n")
    return "".join(head).encode("latin-1") + response.body


class Socket(Protocol):
    """A WebSocket as the application sees it: frames out, a close with a code, flow control."""

    # The code of the close frame sent first, by either side; 1005 for a peer's close frame
    # without one, None while open or when the TCP connection just ended (RFC 6455's 1006).
    close_code: int | None

    def write(self, data: bytes) -> None:
        """Queue already framed bytes; never blocks."""

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake; the TCP connection ends when the peer answers, or after
        a bound if it never does."""

    def abort(self) -> None:
        """Drop the TCP connection now, without a closing handshake."""

    def buffer_size(self) -> int:
        """Bytes written and not yet taken by the kernel."""

    def is_closing(self) -> bool: ...

    def peer(self) -> str:
        """The client's address, ``host:port``; empty when the transport does not know it."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class SocketHandler(Protocol):
    """What the application does with an accepted WebSocket's traffic."""

    def message(self, text: str) -> None:
        """One complete, valid UTF-8 text message."""

    def binary(self, data: bytes) -> None:
        """One complete binary message."""

    def closed(self) -> None:
        """The TCP connection is gone; called once, last."""


class Handler(Protocol):
    """The application behind the network layer."""

    # True when ``http`` never needs a current task before it first suspends: requests then
    # start eagerly and cost no task unless they really wait (see ``background.start``).
    eager: bool

    def http(self, request: Request) -> Awaitable[Response]:
        """Answer one HTTP request."""

    def is_websocket(self, path: str) -> bool:
        """Whether ``path`` is a WebSocket endpoint (an upgrade is then required)."""

    def websocket(self, request: Request, socket: Socket) -> SocketHandler:
        """A WebSocket was accepted (101 sent) on ``request``; take over its traffic."""
