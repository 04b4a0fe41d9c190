"""A raw-socket fuzzer for the WebSocket layer, against a live ``tidings serve``.

Connections on 127.0.0.1 send what no client library would: random frame headers, lying and
oversized lengths, missing masks, reserved bits and opcodes, fragments out of order, control
frames between fragments, invalid UTF-8, Pusher frames of every shape, floods of pings without
reading, and then close, vanish mid-frame, half-close or just stop. Throughout, another client
keeps completing a subscribe + trigger round trip and ``/ready`` answers; afterwards the
server holds no channel, no extra file descriptor, and little more memory than before.

Bounded in count and time. Seeded, so a CI failure reproduces: the seed is in the failure
message, ``TIDINGS_FUZZ_SEED`` replays it, and ``TIDINGS_FUZZ=long`` runs a developer's longer
hunt (``TIDINGS_FUZZ_CONNECTIONS`` / ``TIDINGS_FUZZ_SECONDS`` to set its size).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_client import assert_round_trip, sdk_for
from tests.support.server import AppSpec, TidingsServer, in_cluster_run

LONG = os.environ.get("TIDINGS_FUZZ") == "long"
CONNECTIONS = int(os.environ.get("TIDINGS_FUZZ_CONNECTIONS", 20_000 if LONG else 240))
SECONDS = float(os.environ.get("TIDINGS_FUZZ_SECONDS", 600 if LONG else 20))
SEED = int(os.environ.get("TIDINGS_FUZZ_SEED", random.randrange(2**32) if LONG else 13))
CONCURRENCY = 8
MAX_FRAME_BYTES = 64 * 1024
# How far the server's RSS may rise above its warmed-up size at any point of the storm (about
# 0.5 MB in practice): allocator noise, never a copy of what was sent (over 100 MB of it).
RSS_SLACK_KIB = 8 * 1024
APP = AppSpec(settings={"enable_client_events": True, "enable_subscription_count": True})

pytestmark = pytest.mark.skipif(
    in_cluster_run(),
    reason="the WebSocket layer is the same on a cluster; fuzzed once, on one process",
)


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- what the fuzzer sends --------------------------------------------------------------------


def header(rng: random.Random, first: int, length: int, masked: bool) -> bytes:
    """A frame header announcing ``length``, in the shortest form or (sometimes) a longer one."""
    if length < 126:
        form = rng.choice([7, 7, 7, 16, 64])
    else:
        form = rng.choice([16, 16, 64]) if length < 1 << 16 else 64
    bit = 0x80 if masked else 0
    if form == 7:
        return bytes([first, bit | length])
    if form == 16:
        return bytes([first, bit | 126]) + length.to_bytes(2, "big")
    return bytes([first, bit | 127]) + length.to_bytes(8, "big")


def masked(rng: random.Random, payload: bytes) -> bytes:
    key = rng.randbytes(4)
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return key + (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def pusher_text(rng: random.Random, index: int) -> bytes:
    """A Pusher frame: right, nearly right, or any JSON at all."""
    channel = rng.choice(
        [f"fuzz-{index % 5}", "presence-fuzz", "private-fuzz", "", "#x", "a" * 300]
    )
    event = rng.choice(
        ["pusher:subscribe", "pusher:unsubscribe", "pusher:ping", "pusher:signin", "client-x"]
    )
    data: Any = rng.choice(
        [
            {"channel": channel},
            {"channel": channel, "auth": "key:" + "0" * 64, "channel_data": "{"},
            json.dumps({"channel": channel}),
            {"user_data": '{"id":"u"}', "auth": 1},
            [[[]]] * rng.randrange(3),
            "x" * rng.randrange(2000),
            None,
        ]
    )
    message: Any = {"event": event, "data": data, "channel": channel}
    if rng.random() < 0.1:
        message = rng.choice([[message], "event", 42, {"event": 7}])
    text = json.dumps(message).encode()
    if rng.random() < 0.05:
        text = text[: rng.randrange(len(text) + 1)]  # truncated JSON
    return text


def random_frame(rng: random.Random, index: int) -> bytes:
    roll = rng.random()
    fin = rng.random() < 0.85
    opcode = rng.choices(
        [0x1, 0x2, 0x0, 0x9, 0xA, 0x8, 0x3, 0xB, 0xF], [40, 5, 10, 15, 5, 4, 1, 1, 1]
    )[0]
    if opcode == 0x1:
        payload = pusher_text(rng, index) if rng.random() < 0.8 else rng.randbytes(20)
        if rng.random() < 0.05:
            payload += b"\xc3"  # a UTF-8 sequence cut short
    elif opcode >= 0x8:
        payload = rng.randbytes(rng.choice([0, 1, 2, 30, 125, 126, 200]))
        if opcode == 0x8 and rng.random() < 0.7:
            payload = rng.choice([1000, 1001, 1005, 1006, 2999, 4000, 65535]).to_bytes(2, "big")
    else:
        payload = rng.randbytes(rng.choice([0, 10, 1000, 70_000]))
    rsv = rng.choice([1, 2, 4]) << 4 if rng.random() < 0.03 else 0
    first = (0x80 if fin else 0) | rsv | opcode
    if roll < 0.02:
        first = rng.randrange(256)  # anything at all
    is_masked = rng.random() < 0.97
    length = len(payload)
    if rng.random() < 0.04:  # a lying length: the frame swallows what follows, or never ends
        length = rng.choice([length + 1, length + 5000, MAX_FRAME_BYTES + 1, 2**63 - 1, 2**63])
    head = header(rng, first, min(length, 2**64 - 1), is_masked)
    return head + (masked(rng, payload) if is_masked else payload)


def handshake(key: str, query: str = "protocol=7&client=fuzz&version=1") -> bytes:
    nonce = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /app/{key}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def broken_handshake(rng: random.Random, key: str) -> bytes:
    """An upgrade request with one thing wrong, for the HTTP parser and the handshake check."""
    request = handshake(key).decode()
    lines = request.split("\r\n")[:-2]
    mutation = rng.randrange(8)
    if mutation == 0:
        del lines[rng.randrange(1, len(lines))]  # a header missing
    elif mutation == 1:
        lines[0] = lines[0].replace("GET", rng.choice(["POST", "PUT", "G\x00T", ""]))
    elif mutation == 2:
        lines.append("Sec-WebSocket-Version: " + rng.choice(["8", "13, 13", "", "x" * 50]))
    elif mutation == 3:
        lines.append("X-Padding: " + "a" * rng.choice([100, 20_000]))  # past max_header_bytes
    elif mutation == 4:
        lines.append(rng.choice(["no colon here", ": empty name", "Bad\x7fName: 1"]))
    elif mutation == 5:
        lines[0] = lines[0].replace("HTTP/1.1", rng.choice(["HTTP/1.0", "HTTP/2", "HTTP/1.1x"]))
    elif mutation == 6:
        lines.append("Content-Length: " + rng.choice(["5", "-1", "99999999999999999999"]))
    else:
        return rng.randbytes(rng.randrange(1, 300)) + b"\r\n\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def drain(reader: asyncio.StreamReader, seconds: float) -> None:
    """Read until the server ends the connection, for at most ``seconds``."""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass


async def fuzz_one(server: TidingsServer, rng: random.Random, index: int, peaks: list[int]) -> None:
    """One connection's worth of nonsense; ``peaks`` gets the server's RSS at its worst."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        key = server.app.key if rng.random() < 0.95 else rng.choice(["nope", "", "%ff"])
        query = "protocol=7" if rng.random() < 0.95 else rng.choice(["protocol=x", "protocol=99"])
        if rng.random() < 0.1:
            writer.write(broken_handshake(rng, key))
        else:
            writer.write(handshake(key, query))
        if rng.random() < 0.7:  # else pipeline the frames behind the upgrade request
            await drain_until_101(reader)
        if rng.random() < 0.06:  # megabytes of pings, never reading a pong
            ping = header(rng, 0x89, 125, True) + masked(rng, rng.randbytes(125))
            for _ in range(rng.randrange(4, 24)):
                writer.write(ping * 8000)
                await writer.drain()
            peaks.append(server.rss_kib())  # while the socket is open and its pongs unread
        wire = b"".join(random_frame(rng, index) for _ in range(rng.randrange(1, 30)))
        ending = rng.choice(["close", "vanish", "half-close", "stop"])
        if ending == "vanish" and wire:
            wire = wire[: rng.randrange(len(wire))]  # cut mid-frame
        pos = 0
        while pos < len(wire):  # in pieces, as TCP would
            step = rng.choice([1, 7, 100, 4096, len(wire)])
            writer.write(wire[pos : pos + step])
            pos += step
            if rng.random() < 0.3:
                await writer.drain()
        if ending == "close":
            writer.write(header(rng, 0x88, 2, True) + masked(rng, (1000).to_bytes(2, "big")))
            await drain(reader, 2.0)
        elif ending == "half-close":
            writer.write_eof()
            await drain(reader, 2.0)
        elif ending == "vanish":
            writer.transport.abort()
        else:
            await writer.drain()
    except OSError:
        pass  # the server closing on us mid-write is one of the answers
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def drain_until_101(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        async with asyncio.timeout(2.0):
            await reader.readuntil(b"\r\n\r\n")


# -- the test -------------------------------------------------------------------------------


@pytest.fixture
def fuzzed_server() -> Iterator[TidingsServer]:
    # A short keep-alive: the SDKs' idle HTTP connections must not pass for leaked sockets.
    settings = {"max_frame_bytes": MAX_FRAME_BYTES, "keepalive_timeout": 1.0}
    with TidingsServer([APP], settings) as server:
        yield server


def ready(server: TidingsServer) -> int:
    with urllib.request.urlopen(f"{server.url}/ready", timeout=5) as response:
        return int(response.status)


async def storm(
    server: TidingsServer, rng: random.Random, first: int, count: int, peaks: list[int]
) -> None:
    deadline = time.monotonic() + SECONDS
    indexes = iter(range(first, first + count))

    async def worker() -> None:
        for index in indexes:
            if time.monotonic() > deadline:
                return
            await fuzz_one(server, random.Random(rng.getrandbits(64)), index, peaks)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def test_the_server_survives_a_storm_of_malformed_websocket_traffic(
    fuzzed_server: TidingsServer,
) -> None:
    server = fuzzed_server
    assert server.process is not None
    pid = server.process.pid
    rng = random.Random(SEED)
    context = f"seed {SEED} (TIDINGS_FUZZ_SEED={SEED} replays it)"
    await storm(server, rng, 0, CONNECTIONS // 10, [])  # warm-up: caches and arenas fill
    await assert_round_trip(server)
    warm_rss, warm_fds = server.rss_kib(), fds(pid)

    rounds = 0
    peaks: list[int] = []
    done = asyncio.create_task(storm(server, rng, CONNECTIONS // 10, CONNECTIONS, peaks))
    while not done.done() or rounds < 3:
        await assert_round_trip(server)  # a well-behaved client is served throughout
        assert await asyncio.to_thread(ready, server) == 200, context
        assert server.process.poll() is None, f"{context}: the server died\n{server.log()}"
        peaks.append(server.rss_kib())
        rounds += 1
    await done

    grown = max(peaks) - warm_rss
    assert grown < RSS_SLACK_KIB, f"{context}: RSS grew by {grown} KiB during the storm"
    await settled(server, pid, warm_fds, context)
    log = server.log()
    assert "Traceback" not in log, f"{context}: the server logged a fault\n{log[-4000:]}"


async def settled(server: TidingsServer, pid: int, warm_fds: int, context: str) -> None:
    """Every fuzzing socket is gone: no channel left subscribed, no descriptor left open.
    (Cleanup follows each close; a close the client never answers waits for close_timeout.)"""
    sdk = sdk_for(server)
    deadline = time.monotonic() + 15
    while True:
        channels = await asyncio.to_thread(sdk.channels_info)
        now_fds = fds(pid)
        if (not channels["channels"] and now_fds <= warm_fds) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert channels == {"channels": {}}, context
    assert now_fds <= warm_fds, f"{context}: {now_fds - warm_fds} descriptors more: {fd_list(pid)}"


def fd_list(pid: int) -> list[str]:
    return sorted(
        str(Path(f"/proc/{pid}/fd", name).resolve()) for name in os.listdir(f"/proc/{pid}/fd")
    )


async def test_a_peer_that_pings_without_reading_cannot_grow_the_server(
    fuzzed_server: TidingsServer,
) -> None:
    """Found by the fuzzer: every ping was answered however many pongs already waited unsent,
    so 150 MB of pings from a client that never reads took the server from 42 to 265 MB."""
    server = fuzzed_server
    rng = random.Random(6455)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(handshake(server.app.key))
    await drain_until_101(reader)
    before = server.rss_kib()
    ping = header(rng, 0x89, 125, True) + masked(rng, rng.randbytes(125))
    for _ in range(64):  # 64 MB
        writer.write(ping * 8000)
        await writer.drain()
    assert server.rss_kib() - before < 8 * 1024
    writer.transport.abort()
    await assert_round_trip(server)
