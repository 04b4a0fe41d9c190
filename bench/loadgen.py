"""The load generator's clients: raw asyncio Protocols, no WebSocket or HTTP library.

Subscribers speak just enough of the Pusher protocol to connect and subscribe, then most of them
only count a byte marker per delivered event (``bytes.count``, at C speed). Every 20th parses its
frames and records the delivery latency carried in the payload. API clients send signed
requests over keep-alive connections and reconnect when the server closes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import orjson

from bench import pusher_wire as wire

SAMPLE_EVERY = 20
# Linux picks a connect()'s ephemeral port from one parity half of the range first; once about
# 14k sockets from one source address go to one server port, each connect() scans that half
# (~1 ms of kernel time), and the idle scenario's connect rate would measure that. So every
# block of this many sockets after the first comes from its own loopback source address
# (127.0.0.2, 127.0.0.3, ...: all of 127/8 is loopback), bound with IP_BIND_ADDRESS_NO_PORT so
# that the port is still chosen at connect() (a bind() to port 0 next to 10k connected sockets
# is as slow). Scenarios with at most this many sockets are unchanged.
SOURCE_BLOCK = 10000
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux, since 4.2


class Tally:
    """Counters shared by every subscriber of a scenario, with waiters on the delivery count."""

    __slots__ = ("closed", "delivered", "errors", "receipts", "samples", "waiters")

    def __init__(self) -> None:
        self.delivered = 0
        self.closed = 0
        self.errors: list[str] = []
        self.samples: list[int] = []
        # (pool index, receive time) of pre-signed triggers (bench/wrk.py), when not None.
        self.receipts: list[tuple[int, int]] | None = None
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []

    def add(self, count: int) -> None:
        self.delivered += count
        if self.waiters:
            delivered = self.delivered
            keep = []
            for target, waiter in self.waiters:
                if delivered >= target:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    keep.append((target, waiter))
            self.waiters = keep

    async def reach(self, target: int, timeout: float) -> bool:
        """Wait until ``delivered >= target``; False on timeout."""
        if self.delivered >= target:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append((target, waiter))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        return True


# Subscriber states
_HANDSHAKE, _SETUP, _COUNT, _SAMPLE = range(4)


class Subscriber(asyncio.Protocol):
    """One WebSocket. Until subscribed it parses frames; then it counts or samples."""

    def __init__(
        self,
        tally: Tally,
        marker: bytes,
        request: bytes,
        sampled: bool,
        channel: str | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.tally = tally
        self.request = request
        self.sampled = sampled
        self.channel = channel  # subscribed as soon as the connection is established
        self.transport: asyncio.Transport | None = None
        self.state = _HANDSHAKE
        self.buffer = b""
        self.reader = wire.FrameReader()
        self.counter = wire.MarkerCounter(marker)
        self.marker = marker
        self.socket_id: asyncio.Future[str] = loop.create_future()
        self.subscribed: asyncio.Future[dict[str, object]] = loop.create_future()
        self.subscribe_sent_ns = 0

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == _COUNT:
            count = self.counter.feed(data)
            if count:
                self.tally.add(count)
        elif state == _SAMPLE:
            self._sample(self.reader.feed(data))
        elif state == _HANDSHAKE:
            self.buffer += data
            split = wire.split_handshake(self.buffer)
            if split is None:
                return
            upgraded, rest = split
            self.buffer = b""
            if not upgraded:
                self._fail(f"handshake refused: {data[:80]!r}")
                return
            self.state = _SETUP
            if rest:
                self._setup(self.reader.feed(rest))
        else:
            self._setup(self.reader.feed(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.tally.closed += 1
        self._fail("connection closed")

    # -- setup --------------------------------------------------------------------------------
    def subscribe(self, channel: str, auth: str | None = None, data: str | None = None) -> None:
        assert self.transport is not None
        self.subscribe_sent_ns = time.perf_counter_ns()
        self.transport.write(wire.subscribe(channel, auth, data))

    def _setup(self, frames: list[tuple[int, bytes]]) -> None:
        for index, (opcode, payload) in enumerate(frames):
            if opcode != wire.OP_TEXT:
                continue
            message = orjson.loads(payload)
            event = message.get("event")
            if event == "pusher:connection_established":
                socket_id = str(wire.inner_data(message)["socket_id"])
                if self.channel is not None:
                    self.subscribe(self.channel, "")
                if not self.socket_id.done():
                    self.socket_id.set_result(socket_id)
            elif event == "pusher_internal:subscription_succeeded":
                self._subscribed(message, frames[index + 1 :])
                return
            elif event in ("pusher:error", "pusher:subscription_error"):
                self._fail(f"{event}: {payload[:200]!r}")

    def _subscribed(self, message: dict[str, object], later: list[tuple[int, bytes]]) -> None:
        self.state = _SAMPLE if self.sampled else _COUNT
        if not self.subscribed.done():
            self.subscribed.set_result(message)
        if self.sampled:
            self._sample(later)
            return
        count = sum(payload.count(self.marker) for _, payload in later)
        rest = self.reader.rest()
        count += self.counter.feed(rest) if rest else 0
        if count:
            self.tally.add(count)

    def _sample(self, frames: list[tuple[int, bytes]]) -> None:
        now = time.perf_counter_ns()
        marker, samples, count = self.marker, self.tally.samples, 0
        receipts = self.tally.receipts
        for opcode, payload in frames:
            if opcode != wire.OP_TEXT or marker not in payload:
                continue
            count += 1
            if b'\\"t\\":' in payload:
                data = orjson.loads(orjson.loads(payload)["data"])
                samples.append(now - data["t"])
            elif receipts is not None and b'\\"i\\":' in payload:
                data = orjson.loads(orjson.loads(payload)["data"])
                receipts.append((data["i"], now))
        if count:
            self.tally.add(count)

    def _fail(self, why: str) -> None:
        for future in (self.socket_id, self.subscribed):
            if not future.done():
                future.set_exception(ConnectionError(why))
                future.exception()  # retrieved: nobody may be waiting on both

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


@dataclass(slots=True)
class Target:
    host: str
    port: int
    creds: wire.Credentials = field(default_factory=wire.Credentials)
    tls: ssl.SSLContext | None = None  # wss:// and https:// when set


def source_address(index: int, host: str) -> str | None:
    """The local address for subscriber ``index`` (None: the kernel's default)."""
    block = index // SOURCE_BLOCK
    if block == 0 or not host.startswith("127."):
        return None
    return f"127.0.0.{1 + block}"


async def _connected_from(source: str, host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_subscribers(
    target: Target,
    tally: Tally,
    marker: bytes,
    channels: Callable[[int], str | None],
    count: int,
    *,
    first_index: int = 0,
    concurrency: int = 100,
    timeout: float = 60.0,
) -> list[Subscriber]:
    """Open ``count`` sockets (at most ``concurrency`` in flight), each subscribed to
    ``channels(index)`` (or only connected, for None). Every 20th index samples."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    deadline = loop.time() + timeout
    request = wire.handshake_request(target.host, target.port, target.creds.key)

    async def connect(index: int, channel: str | None) -> Subscriber:
        def factory() -> Subscriber:
            return Subscriber(tally, marker, request, index % SAMPLE_EVERY == 0, channel)

        source = source_address(index, target.host)
        tls = target.tls
        if source is None:
            _, sub = await loop.create_connection(factory, target.host, target.port, ssl=tls)
        else:
            sock = await _connected_from(source, target.host, target.port)
            hostname = target.host if tls else None
            _, sub = await loop.create_connection(
                factory, sock=sock, ssl=tls, server_hostname=hostname
            )
        return sub

    async def one(index: int) -> Subscriber:
        channel = channels(index)
        async with gate:
            left = max(0.1, deadline - loop.time())
            sub = await asyncio.wait_for(connect(index, channel), left)
            ready = sub.subscribed if channel is not None else sub.socket_id
            try:
                await asyncio.wait_for(ready, max(0.1, deadline - loop.time()))
            except BaseException:
                sub.abort()
                raise
            return sub

    tasks = [asyncio.ensure_future(one(first_index + i)) for i in range(count)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    subs = [r for r in results if isinstance(r, Subscriber)]
    failures = [r for r in results if not isinstance(r, Subscriber)]
    if failures:
        for sub in subs:
            sub.abort()
        raise ConnectionError(f"{len(failures)} of {count} sockets failed: {failures[0]!r}")
    return subs


def close_all(subs: list[Subscriber]) -> None:
    for sub in subs:
        sub.abort()


class _ApiConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = wire.ResponseReader()
        self.pending: asyncio.Future[wire.HttpResponse] | None = None
        self.open = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        for response in self.reader.feed(data):
            if response.close:
                self.open = False
            if self.pending is not None and not self.pending.done():
                self.pending.set_result(response)
                self.pending = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(ConnectionError("API connection closed"))
            self.pending = None


class ApiClient:
    """One keep-alive HTTP connection to the API, one request at a time (no pipelining)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.connection: _ApiConnection | None = None
        self.connects = 0
        self._signed: tuple[int, bytes, str, bytes] | None = None

    async def post(self, path: str, body: bytes, timeout: float = 10.0) -> wire.HttpResponse:
        conn = self.connection
        if conn is None or not conn.open:
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(
                _ApiConnection, self.target.host, self.target.port, ssl=self.target.tls
            )
            self.connection = conn
            self.connects += 1
        assert conn.transport is not None
        conn.pending = asyncio.get_running_loop().create_future()
        conn.transport.write(self._request(path, body))
        return await asyncio.wait_for(conn.pending, timeout)

    def _request(self, path: str, body: bytes) -> bytes:
        # Signing costs a few microseconds: reuse the signed request while the second and the
        # body stay the same (the HTTP-only scenario), so that we measure the server.
        second = int(time.time())
        cached = self._signed
        if cached is not None and cached[0] == second and cached[1] is body and cached[2] == path:
            return cached[3]
        target = self.target
        request = wire.signed_post(target.host, target.port, target.creds, path, body, second)
        self._signed = (second, body, path, request)
        return request

    def close(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.abort()
        self.connection = None


async def wait_listening(target: Target, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(target.host, target.port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
