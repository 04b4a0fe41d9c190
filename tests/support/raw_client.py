"""A Pusher protocol client driven by hand over aiohttp's WebSocket, for tests that need to see
(or send) exact frames; channel auth comes from the official Python SDK, never from our code."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import pusher

from tests.support.server import AppSpec


class Target(Protocol):
    """Where a tidings process listens and which app to use: a ``TidingsServer`` or the like."""

    host: str
    port: int

    @property
    def app(self) -> AppSpec: ...


class Closed(Exception):
    """The server closed the socket; ``code`` is its close code (None if it just vanished)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"socket closed with code {code}")
        self.code = code


def sdk_for(server: Target, secret: str | None = None) -> pusher.Pusher:
    """The official Python SDK for ``server``'s first app, optionally with a wrong secret."""
    app = server.app
    tls = client_tls(server) is not None
    sdk = pusher.Pusher(
        app_id=app.id,
        key=app.key,
        secret=secret or app.secret,
        host=server.host,
        port=server.port,
        ssl=tls,
    )
    if tls:  # the SDK verifies against its own CA bundle unless told otherwise
        sdk._pusher_client.http.options["verify"] = getattr(server, "ca_file", None)
    return sdk


def client_tls(server: Target) -> ssl.SSLContext | None:
    """How to reach ``server``: a context trusting its test CA if it speaks TLS, else None."""
    make = getattr(server, "client_tls", None)
    return make() if make is not None else None


class RawClient:
    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession, owns: bool
    ) -> None:
        self.ws = ws
        self._session = session
        self._owns_session = owns
        self.socket_id = ""
        self.activity_timeout = 0

    @classmethod
    async def connect(
        cls,
        server: Target,
        key: str | None = None,
        *,
        query: str = "protocol=7&client=raw-test&version=1.0",
        session: aiohttp.ClientSession | None = None,
        handshake: bool = True,
        headers: dict[str, str] | None = None,
        source: str | None = None,
    ) -> RawClient:
        """Open ``/app/{key}``; with ``handshake`` wait for ``pusher:connection_established``.

        ``source``: the local address to connect from (127.0.0.x), for per-address limits."""
        owns = session is None
        if session is None:
            connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
            session = aiohttp.ClientSession(connector=connector)
        tls = client_tls(server)
        scheme = "wss" if tls else "ws"
        url = f"{scheme}://{server.host}:{server.port}/app/{key or server.app.key}?{query}"
        try:
            ws = await session.ws_connect(url, max_msg_size=0, ssl=tls or False, headers=headers)
        except BaseException:
            if owns:
                await session.close()
            raise
        client = cls(ws, session, owns)
        if handshake:
            established = await client.expect("pusher:connection_established")
            data = json.loads(established["data"])
            client.socket_id = data["socket_id"]
            client.activity_timeout = data["activity_timeout"]
        return client

    async def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": {} if data is None else data}
        if channel is not None:
            frame["channel"] = channel
        await self.ws.send_str(json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next text frame, parsed; raises Closed when the server closes instead."""
        message = await self.ws.receive(timeout)
        if message.type is aiohttp.WSMsgType.TEXT:
            frame: dict[str, Any] = json.loads(message.data)
            return frame
        if message.type is aiohttp.WSMsgType.CLOSE:
            # The frame's code: aiohttp overwrites ws.close_code with 1006 when its echo of the
            # close frame finds the socket already shut, which says nothing about the server.
            raise Closed(int(message.data))
        if message.type in (
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            raise Closed(self.ws.close_code)
        raise AssertionError(f"unexpected WebSocket message {message.type!r}: {message.data!r}")

    async def expect(
        self, event: str, channel: str | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Skip frames until one named ``event`` (on ``channel``, if given) arrives."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event} on {channel} within {timeout}s; saw {seen}")
            try:
                frame = await self.recv(left)
            except TimeoutError:
                continue
            if frame.get("event") == event and (channel is None or frame.get("channel") == channel):
                return frame
            seen.append(str(frame.get("event")))

    async def next_event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next application or client event, skipping ``pusher*`` housekeeping frames."""
        while True:
            frame = await self.recv(timeout)
            if not str(frame.get("event")).startswith("pusher"):
                return frame

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Read (and drop) frames until the server closes; return its close code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self.recv(max(0.01, deadline - time.monotonic()))
            except Closed as closed:
                return closed.code
            except TimeoutError:
                break
        raise TimeoutError(f"the server did not close the socket within {timeout}s")

    async def subscribe(
        self,
        channel: str,
        sdk: pusher.Pusher | None = None,
        user: dict[str, Any] | None = None,
        *,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Subscribe (signed by the SDK when given) and return subscription_succeeded."""
        data: dict[str, Any] = {"channel": channel}
        if sdk is not None:
            data.update(sdk.authenticate(channel, self.socket_id, user))
        await self.send("pusher:subscribe", data)
        if not wait:
            return {}
        return await self.expect("pusher_internal:subscription_succeeded", channel)

    async def vanish(self) -> None:
        """Drop the TCP connection without a close frame, like a phone leaving coverage."""
        self.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        if self._owns_session:
            await self._session.close()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def assert_round_trip(server: Target, channel: str = "health-check") -> None:
    """A well-behaved client still subscribes and receives a triggered event on ``server``."""
    async with await RawClient.connect(server) as client:
        await client.subscribe(channel)
        sdk = sdk_for(server)
        await asyncio.to_thread(sdk.trigger, channel, "still-alive", {"ok": True})
        frame = await client.expect("still-alive", channel)
        assert json.loads(frame["data"]) == {"ok": True}


async def eventually(
    query: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 5.0
) -> None:
    """Poll an API ``query`` until it answers ``expected``: a disconnect is cleaned up after
    the client has seen its close frame (and, on a cluster, after a few Redis round trips)."""
    deadline = time.monotonic() + timeout
    while (answer := await query()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {answer!r} after {timeout}s; expected {expected!r}")
        await asyncio.sleep(0.05)
