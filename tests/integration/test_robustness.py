"""The server under stress: churn leaves nothing behind, a slow reader cannot hold memory
hostage, shutdown tells every client to reconnect, and silent clients are found and closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.raw_client import Closed, RawClient, sdk_for
from tests.support.server import ROOT, TidingsServer

MakeServer = Callable[..., TidingsServer]
call = asyncio.to_thread


async def wait_until_empty(server: TidingsServer, timeout: float = 10.0) -> dict[str, Any]:
    """The channel list once the server has finished cleaning up after closed sockets."""
    sdk = sdk_for(server)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        channels: dict[str, Any] = await call(sdk.channels_info)
        if not channels["channels"] or loop.time() > deadline:
            return channels
        await asyncio.sleep(0.1)


# -- (a) churn ------------------------------------------------------------------------------


async def one_cycle(
    server: TidingsServer, session: aiohttp.ClientSession, sdk: Any, index: int
) -> None:
    client = await RawClient.connect(server, session=session)
    try:
        await client.subscribe(f"churn-{index % 10}")
        await client.subscribe(f"presence-churn-{index % 7}", sdk, {"user_id": f"u{index % 50}"})
    finally:
        await (client.vanish() if index % 2 else client.close())


async def churn(server: TidingsServer, cycles: int, concurrency: int = 100) -> None:
    sdk = sdk_for(server)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for start in range(0, cycles, concurrency):
            batch = range(start, min(start + concurrency, cycles))
            await asyncio.gather(*(one_cycle(server, session, sdk, i) for i in batch))


async def test_churn_leaves_no_channels_members_or_memory_behind(
    make_server: MakeServer,
) -> None:
    server = make_server(enable_subscription_count=True)
    await churn(server, 500)  # warm-up: caches, arenas and buffers reach their working size
    assert await wait_until_empty(server) == {"channels": {}}
    warm_rss = server.rss_kib()

    await churn(server, 2500)
    assert await wait_until_empty(server) == {"channels": {}}
    sdk = sdk_for(server)
    for room in range(7):
        channel = f"presence-churn-{room}"
        assert await call(sdk.users_info, channel) == {"users": []}
        assert await call(sdk.channel_info, channel, ["user_count"]) == {
            "occupied": False,
            "user_count": 0,
        }
    grown_kib = server.rss_kib() - warm_rss
    assert "Traceback" not in server.log()
    # 2500 more sockets that each held two subscriptions: a leak of even 10 KiB apiece shows.
    assert grown_kib < 20 * 1024, f"RSS grew by {grown_kib} KiB after the warm-up"


# -- (b) slow consumer ----------------------------------------------------------------------


class SlowConsumer(asyncio.Protocol):
    """A WebSocket client by hand on a socket with a tiny receive buffer, so that when it stops
    reading the server's send buffer is what fills up."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.arrived = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        self.arrived.set()

    @classmethod
    async def connect(cls, server: TidingsServer) -> SlowConsumer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (server.host, server.port))
        _, protocol = await loop.create_connection(cls, sock=sock)
        assert protocol.transport is not None
        protocol.transport.write(
            f"GET /app/{server.app.key}?protocol=7 HTTP/1.1\r\n"
            f"Host: {server.host}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await protocol.wait_for(b"pusher:connection_established")
        return protocol

    async def wait_for(self, marker: bytes, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while marker not in self.received:
                self.arrived.clear()
                await self.arrived.wait()

    async def subscribe(self, channel: str) -> None:
        self.send_text(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
        await self.wait_for(b"pusher_internal:subscription_succeeded")

    def stop_reading(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again, now with a roomy buffer so the backlog drains quickly."""
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.transport.resume_reading()

    async def wait_close_code(self, timeout: float = 10.0) -> int:
        async with asyncio.timeout(timeout):
            while (code := self.close_code()) is None:
                self.arrived.clear()
                await self.arrived.wait()
        return code

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send_text(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126 and self.transport is not None
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def frames(self) -> list[tuple[int, bytes]]:
        """(opcode, payload) of every complete server frame after the HTTP response."""
        data = bytes(self.received[self.received.index(b"\r\n\r\n") + 4 :])
        frames = []
        while len(data) >= 2:
            opcode, length, at = data[0] & 0x0F, data[1] & 0x7F, 2
            if length == 126:
                (length,), at = struct.unpack("!H", data[2:4]), 4
            elif length == 127:
                (length,), at = struct.unpack("!Q", data[2:10]), 10
            if len(data) < at + length:
                break
            frames.append((opcode, data[at : at + length]))
            data = data[at + length :]
        return frames

    def close_code(self) -> int | None:
        for opcode, payload in self.frames():
            if opcode == 0x8:
                code: int = struct.unpack("!H", payload[:2])[0]
                return code
        return None


def events_beyond_kernel_buffers(event_bytes: int) -> int:
    """Enough events to overflow the largest send buffer the kernel may grow for one socket."""
    wmem = Path("/proc/sys/net/ipv4/tcp_wmem")
    kernel_max = int(wmem.read_text().split()[2]) if wmem.exists() else 4 * 1024 * 1024
    return 2 * kernel_max // event_bytes + 100


async def test_slow_consumers_are_dropped_while_others_get_everything(
    make_server: MakeServer,
) -> None:
    server = make_server(server={"send_buffer_limit": 65536})
    sdk = sdk_for(server)
    lagging, stalled = await SlowConsumer.connect(server), await SlowConsumer.connect(server)
    for slow in (lagging, stalled):
        await slow.subscribe("firehose")
        slow.stop_reading()

    blob = "x" * 10_000
    total = events_beyond_kernel_buffers(len(blob))
    async with await RawClient.connect(server) as reader:
        await reader.subscribe("firehose")
        receiving = asyncio.create_task(read_events(reader, total))
        for start in range(0, total, 10):
            batch = [
                {"channel": "firehose", "name": "big", "data": f"{n}:{blob}"}
                for n in range(start, min(start + 10, total))
            ]
            await call(sdk.trigger_batch, batch)
        assert await receiving == list(range(total))

        # One reads again soon: it finds the 4100 close after what fitted in the buffers.
        lagging.resume_reading()
        assert await lagging.wait_close_code() == 4100
        delivered = [p for op, p in lagging.frames() if op == 0x1 and b'"big"' in p]
        assert len(delivered) < total

        # The other never reads again; the server lets go of it anyway.
        info: dict[str, Any] = {}
        async with asyncio.timeout(15):
            while info.get("subscription_count") != 1:
                await asyncio.sleep(0.2)
                info = await call(sdk.channel_info, "firehose", ["subscription_count"])
        await reader.send("pusher:ping")
        await reader.expect("pusher:pong")
    for slow in (lagging, stalled):
        slow.close()


async def read_events(client: RawClient, count: int) -> list[int]:
    numbers = []
    while len(numbers) < count:
        frame = await client.next_event(timeout=10)
        numbers.append(int(frame["data"].split(":", 1)[0]))
    return numbers


# -- (c) graceful shutdown --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
async def test_sigterm_sends_4200_to_every_pusher_js_client_and_exits_0(
    make_server: MakeServer,
) -> None:
    server = make_server()
    count = 300
    options = {
        "host": server.host,
        "port": server.port,
        "key": server.app.key,
        "count": count,
        "channel": "everyone",
        "timeoutMs": 30_000,
    }
    swarm = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "support" / "pusher_js_swarm.js"),
        json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert swarm.stdout is not None
    try:
        ready = await asyncio.wait_for(swarm.stdout.readline(), 30)
        assert ready.decode().strip() == f"READY {count}"
        info = await call(sdk_for(server).channel_info, "everyone", ["subscription_count"])
        assert info == {"occupied": True, "subscription_count": count}

        server.signal(signal.SIGTERM)
        assert server.process is not None
        exit_code = await call(server.process.wait, 10)
        assert exit_code == 0, server.log()

        summary = json.loads(await asyncio.wait_for(swarm.stdout.readline(), 30))
    finally:
        if swarm.returncode is None:
            swarm.kill()
        await swarm.wait()
    assert summary == {"connected": count, "codes": {"4200": count}, "unclosed": 0}


# -- (d) keep-alive ---------------------------------------------------------------------------


async def answer_pings(client: RawClient, answered: list[float]) -> None:
    """Play a well-behaved client: answer every server ping, noting when."""
    loop = asyncio.get_running_loop()
    while True:
        frame = await client.recv(timeout=30)
        if frame["event"] == "pusher:ping":
            await client.send("pusher:pong")
            answered.append(loop.time())


async def test_idle_client_is_pinged_and_closed_4201_without_a_pong(
    make_server: MakeServer,
) -> None:
    server = make_server(server={"activity_timeout": 1, "pong_timeout": 1})
    async with (
        await RawClient.connect(server) as polite,
        await RawClient.connect(server) as silent,
    ):
        assert silent.activity_timeout == 1
        answered: list[float] = []
        answering = asyncio.create_task(answer_pings(polite, answered))

        ping = await silent.recv(timeout=10)
        assert ping == {"event": "pusher:ping", "data": {}}
        with pytest.raises(Closed) as closed:
            await silent.recv(timeout=10)
        assert closed.value.code == 4201

        # Answering a second ping means the polite client outlived a whole pong timeout.
        async with asyncio.timeout(10):
            while len(answered) < 2:
                await asyncio.sleep(0.1)
        assert not answering.done()
        answering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await answering
        await polite.send("pusher:ping")
        await polite.expect("pusher:pong")
