"""``tidings_webhooks``: a local receiver of the server's signed webhooks.

It listens in the server's own thread and event loop, on another free port of 127.0.0.1,
through tidings' own HTTP layer: no extra thread or dependency. Each test gets its own path
(``begin``), so a webhook of an earlier test that was still on its way is answered but not
recorded. Tests wait on the signed events as they arrive (``Arrivals``).
"""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from tidings.net.http import Request, Response, Socket, SocketHandler
from tidings.net.listener import Limits, Listener
from tidings.protocol.signatures import webhook_signature
from tidings.testing.arrivals import Arrivals
from tidings.testing.server import TidingsServer

_OK = Response(200, b"{}")
_NOT_HERE = Response(404, b'{"error": "not a webhook path of this test"}')


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One POST as received. ``valid``: signed with the app's key and secret."""

    headers: dict[str, str]
    body: bytes
    time_ms: int
    events: tuple[dict[str, Any], ...]
    valid: bool


class WebhookReceiver:
    """What ``tidings_webhooks`` is: ``WebhookReceiver.start(server)`` once, then for each
    test ``server.webhooks_to(receiver.begin())``."""

    eager = True  # recording never suspends

    def __init__(self, server: TidingsServer) -> None:
        self._server = server
        self.port = 0
        self.status = 200  # what to answer: set 500 to see tidings retry
        self._path = "/webhooks/0"
        self._tests = 0
        self._requests: list[WebhookRequest] = []
        self._lock = threading.Lock()  # the server records, the test reads
        self._events: Arrivals[dict[str, Any]] = Arrivals()  # of correctly signed requests
        self._listener: Listener | None = None

    @classmethod
    def start(cls, server: TidingsServer) -> WebhookReceiver:
        receiver = cls(server)
        server.call(receiver._listen())
        return receiver

    async def _listen(self) -> None:
        sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = sock.getsockname()[1]
        self._listener = Listener(self, Limits())
        await self._listener.start(sock)

    def stop(self) -> None:
        if self._listener is not None:
            self._server.call(self._stop())

    async def _stop(self) -> None:
        if self._listener is not None:
            self._listener.stop_accepting()
            await self._listener.finish_requests(1.0)
            self._listener = None

    @property
    def url(self) -> str:
        """Where this test's webhooks go."""
        return f"http://127.0.0.1:{self.port}{self._path}"

    def begin(self) -> str:
        """Forget what was received and take a new path for a new test; returns its URL."""
        with self._lock:
            self._tests += 1
            self._path = f"/webhooks/{self._tests}"
            self._requests = []
            self.status = 200
        self._events.clear()
        return self.url

    # -- the server's thread: tidings.net calls these ------------------------------------------
    def http(self, request: Request) -> Awaitable[Response]:
        return self._answer(request)

    async def _answer(self, request: Request) -> Response:
        if request.method != "POST" or request.path != self._path:
            # An earlier test's path: acknowledged, so tidings does not retry it, and dropped.
            return _OK if request.path.startswith("/webhooks/") else _NOT_HERE
        app = self._server.app
        signature = request.headers.get("x-pusher-signature", "")
        expected = webhook_signature(app.secret, request.body)
        valid = request.headers.get("x-pusher-key") == app.key and hmac.compare_digest(
            signature.encode(), expected.encode()
        )
        try:
            document = orjson.loads(request.body)
            events = tuple(document.get("events", ()))
            time_ms = int(document.get("time_ms", 0))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            events, time_ms = (), 0
        received = WebhookRequest(dict(request.headers), request.body, time_ms, events, valid)
        with self._lock:
            self._requests.append(received)
        if valid:
            self._events.add(events)
        return Response(self.status, b"{}")

    def is_websocket(self, path: str) -> bool:
        return False

    def websocket(self, request: Request, socket: Socket) -> SocketHandler:  # pragma: no cover
        raise AssertionError("the webhook receiver takes no WebSocket")

    # -- the test's side ----------------------------------------------------------------------
    @property
    def requests(self) -> list[WebhookRequest]:
        """Every POST of this test, signed or not, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of this test's correctly signed webhooks, in the order received:
        ``{"name": "member_added", "channel": ..., "user_id": ...}`` as Pusher documents."""
        return self._events.items()

    def wait_for(
        self, name: str, channel: str | None = None, timeout: float = 5.0, **fields: Any
    ) -> dict[str, Any]:
        """The first webhook event named ``name`` (on ``channel``, with these ``fields``, e.g.
        ``user_id="7"``), received already or within ``timeout``; fails listing the others."""
        missing = partial(self._missing, name, channel, timeout)
        return self._events.wait(_matcher(name, channel, fields), timeout, missing)

    async def wait_for_async(
        self, name: str, channel: str | None = None, timeout: float = 5.0, **fields: Any
    ) -> dict[str, Any]:
        """``wait_for`` without blocking the test's event loop."""
        missing = partial(self._missing, name, channel, timeout)
        return await self._events.wait_async(_matcher(name, channel, fields), timeout, missing)

    def _missing(self, name: str, channel: str | None, timeout: float) -> str:
        where = f" on {channel!r}" if channel is not None else ""
        wanted = f"no {name!r} webhook{where} within {timeout:g} s"
        requests = self.requests
        unsigned = sum(1 for r in requests if not r.valid)
        if unsigned:
            wanted += f" ({unsigned} request(s) had a wrong signature)"
        events = self._events.items()
        if not events:
            return f"{wanted}; none received at all"
        return f"{wanted}; received instead:\n" + "\n".join(f"  {e}" for e in events)


def _matcher(
    name: str, channel: str | None, fields: dict[str, Any]
) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        if event.get("name") != name or (channel is not None and event.get("channel") != channel):
            return False
        return all(event.get(key) == value for key, value in fields.items())

    return match
