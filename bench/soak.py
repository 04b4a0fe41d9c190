"""A long run of mixed traffic against one tidings process, to show that nothing accumulates.

    .venv/bin/python -m bench.soak --minutes 30          # the documented run
    .venv/bin/python -m bench.soak --minutes 1 --every 5 # a quick look that it works

Starts ``tidings serve`` on a free port of 127.0.0.1 and, until the time is up, keeps up:
connection churn (connect, join a public and a presence channel, sometimes send client
events, then close or vanish without a close frame), a steady population of presence members
leaving and rejoining rooms and whispering client events, HTTP API triggers and batches from
the official Python SDK, and slow readers subscribed to a busy channel that never read (the
server must drop them with 4100, not buffer for them). Every ``--every`` seconds it prints the
server's RSS and open file descriptors (read from /proc) and its asyncio task count and open
connections (from /metrics), with what the load did meanwhile; at the end, each figure's value
after the warm-up beside its last and highest. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pusher
from prometheus_client.parser import text_string_to_metric_families

from bench import pusher_wire as wire
from bench.servers import free_port

APP_ID, KEY, SECRET = "4242", "soak-key", "soak-secret"  # a throwaway app of this run only
CONFIG = """\
[server]
host = "127.0.0.1"
port = {port}
send_buffer_limit = 262144

[[apps]]
id = "{app_id}"
key = "{key}"
secret = "{secret}"
enable_client_events = true
enable_subscription_count = true
max_event_payload_in_kb = 64
"""
FIREHOSE = "soak-firehose"


@dataclass
class Load:
    churners: int = 24  # concurrent connect-join-leave loops
    members: int = 40  # long-lived presence members that leave, rejoin and whisper
    slow_readers: int = 4  # sockets on the firehose that never read
    triggers_per_sec: float = 40.0
    seconds: float = 60.0
    done: Counter[str] = field(default_factory=Counter)

    def running(self, deadline: float) -> bool:
        return time.monotonic() < deadline


class Server:
    def __init__(self) -> None:
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-soak-")
        config = Path(self._dir.name) / "tidings.toml"
        config.write_text(CONFIG.format(port=self.port, app_id=APP_ID, key=KEY, secret=SECRET))
        self.log = open(Path(self._dir.name) / "server.log", "wb")  # noqa: SIM115
        command = [sys.executable, "-m", "tidings", "--log-level", "warning", "serve"]
        self.process = subprocess.Popen(
            [*command, "--config", str(config), "--data-dir", self._dir.name],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/ready", timeout=1),
            ):
                return
            time.sleep(0.1)
        raise SystemExit(f"tidings did not start: see {self.log.name}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        wanted = {"tidings_asyncio_tasks": "tasks", "tidings_connections": "connections"}
        figures = {name: 0.0 for name in wanted.values()}
        figures["dropped 4100"] = 0.0  # slow readers the server let go, as it should
        for family in text_string_to_metric_families(text):
            if family.name in wanted:
                figures[wanted[family.name]] = sum(sample.value for sample in family.samples)
            elif family.name == "tidings_connections_closed":
                figures["dropped 4100"] = sum(
                    s.value for s in family.samples if s.labels.get("code") == "4100"
                )
        return figures

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()
        self._dir.cleanup()


def sdk(port: int) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=port, ssl=False
    )


SIGNER = sdk(1)  # channel auth only: it never connects


class Client:
    """A Pusher connection over aiohttp; channel auth is signed by the official SDK."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, socket_id: str, load: Load) -> None:
        self.ws, self.socket_id, self.load = ws, socket_id, load
        self.reading = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, port: int, load: Load) -> Client:
        async with asyncio.timeout(10):
            ws = await session.ws_connect(f"ws://127.0.0.1:{port}/app/{KEY}?protocol=7")
            first = await ws.receive_json()
        load.done["connects"] += 1
        return cls(ws, json.loads(first["data"])["socket_id"], load)

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.load.done["frames received"] += 1

    async def send(self, event: str, data: object, channel: str | None = None) -> None:
        frame: dict[str, object] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        await self.ws.send_str(json.dumps(frame))

    async def join(self, channel: str, user_id: str | None = None) -> None:
        data: dict[str, object] = {"channel": channel}
        if channel.startswith(("private-", "presence-")):
            member = {"user_id": user_id, "user_info": {"n": user_id}} if user_id else None
            data.update(SIGNER.authenticate(channel, self.socket_id, member))
        await self.send("pusher:subscribe", data)

    async def leave(self, vanish: bool = False) -> None:
        if vanish:  # no close frame: the TCP connection just ends
            transport = self.ws.get_extra_info("socket")
            if transport is not None:
                with contextlib.suppress(OSError):
                    transport.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reading.cancel()


async def churner(index: int, port: int, load: Load, deadline: float) -> None:
    rng = random.Random(index)
    async with aiohttp.ClientSession() as session:
        while load.running(deadline):
            try:
                client = await Client.connect(session, port, load)
                await client.join(f"soak-{rng.randrange(20)}")
                await client.join(f"presence-soak-{rng.randrange(8)}", f"u{rng.randrange(300)}")
                if rng.random() < 0.5:
                    await client.join(f"private-soak-{rng.randrange(8)}")
                    for _ in range(rng.randrange(4)):
                        channel = f"private-soak-{rng.randrange(8)}"
                        await client.send("client-note", {"from": index}, channel)
                        load.done["client events"] += 1
                await asyncio.sleep(rng.uniform(0.2, 2.0))
                await client.leave(vanish=rng.random() < 0.4)
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                load.done["connect failures"] += 1
                await asyncio.sleep(1)


async def member(index: int, port: int, load: Load, deadline: float) -> None:
    rng = random.Random(1000 + index)
    user, chat = f"member-{index}", f"private-room-{index % 5}"
    async with aiohttp.ClientSession() as session:
        while load.running(deadline):
            try:
                client = await Client.connect(session, port, load)
                room = f"presence-room-{index % 5}"
                await client.join(room, user)
                await client.join(chat)
                while load.running(deadline):
                    await asyncio.sleep(rng.uniform(0.3, 1.5))
                    await client.send("client-typing", {"user": user}, chat)
                    load.done["client events"] += 1
                    if rng.random() < 0.2:  # leave the room and come back to another
                        await client.send("pusher:unsubscribe", {"channel": room})
                        room = f"presence-room-{rng.randrange(5)}"
                        await client.join(room, user)
                        load.done["presence rejoins"] += 1
                await client.leave()
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                load.done["member reconnects"] += 1
                await asyncio.sleep(1)


async def slow_reader(index: int, port: int, load: Load, deadline: float) -> None:
    """Subscribes to the firehose and never reads; reconnects every 20 s."""
    while load.running(deadline):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write(wire.handshake_request("127.0.0.1", port, KEY))
        subscribe = {"event": "pusher:subscribe", "data": {"channel": FIREHOSE}}
        writer.write(wire.client_frame(json.dumps(subscribe).encode()))
        await writer.drain()
        load.done["slow readers"] += 1
        await asyncio.sleep(min(20.0, max(0.0, deadline - time.monotonic())))
        writer.transport.abort()


async def triggers(port: int, load: Load, deadline: float) -> None:
    rng = random.Random(7)
    client = sdk(port)
    big = "x" * 28_000  # under the Python SDK's own 30 KB guard
    interval = 1.0 / load.triggers_per_sec
    while load.running(deadline):
        started = time.monotonic()
        roll = rng.random()
        if roll < 0.5:  # the firehose outruns a reader that never reads within seconds
            await asyncio.to_thread(client.trigger, FIREHOSE, "flood", {"pad": big})
        elif roll < 0.6:
            batch = [
                {"channel": f"soak-{rng.randrange(20)}", "name": "batched", "data": {"i": i}}
                for i in range(5)
            ]
            await asyncio.to_thread(client.trigger_batch, batch)
        else:
            channel = rng.choice(
                [f"soak-{rng.randrange(20)}", f"presence-room-{rng.randrange(5)}", "cache-soak"]
            )
            await asyncio.to_thread(client.trigger, channel, "tick", {"at": started})
        load.done["triggers"] += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def row(elapsed: float, server: Server, load: Load, since: Counter[str]) -> dict[str, float]:
    figures = {"elapsed_s": round(elapsed), "rss_mib": round(server.rss_mib(), 1)}
    figures["fds"] = server.fds()
    figures.update(server.metrics())
    for name, count in load.done.items():
        figures[name] = count - since[name]
    return figures


async def sample(server: Server, load: Load, every: float, deadline: float) -> list[dict]:
    rows: list[dict[str, float]] = []
    start = time.monotonic()
    since: Counter[str] = Counter()
    columns = ["elapsed_s", "rss_mib", "fds", "tasks", "connections", "dropped 4100"]
    print(" ".join(f"{c:>12}" for c in columns), "  load since the last line")
    while True:
        await asyncio.sleep(min(every, max(0.0, deadline - time.monotonic())))
        figures = await asyncio.to_thread(row, time.monotonic() - start, server, load, since)
        since = Counter(load.done)
        rows.append(figures)
        rest = ", ".join(f"{k} {int(v)}" for k, v in figures.items() if k not in columns)
        print(" ".join(f"{figures[c]:>12}" for c in columns), " ", rest, flush=True)
        if time.monotonic() >= deadline:
            return rows


def summary(rows: list[dict[str, float]]) -> None:
    warm = rows[max(0, len(rows) // 10)] if len(rows) > 2 else rows[0]
    print(f"\n{'':>12} {'after warm-up':>14} {'last':>10} {'highest':>10}")
    for name in ("rss_mib", "fds", "tasks", "connections"):
        values = [r[name] for r in rows]
        print(f"{name:>12} {warm[name]:>14} {rows[-1][name]:>10} {max(values):>10}")


async def run(load: Load, every: float) -> list[dict[str, float]]:
    server = Server()
    deadline = time.monotonic() + load.seconds
    try:
        workers = [
            *(churner(i, server.port, load, deadline) for i in range(load.churners)),
            *(member(i, server.port, load, deadline) for i in range(load.members)),
            *(slow_reader(i, server.port, load, deadline) for i in range(load.slow_readers)),
            triggers(server.port, load, deadline),
        ]
        traffic = asyncio.gather(*workers)
        rows = await sample(server, load, every, deadline)
        await traffic
        summary(rows)
        if server.process.poll() is not None:
            raise SystemExit(f"tidings exited with {server.process.returncode}")
        return rows
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--churners", type=int, default=Load.churners)
    parser.add_argument("--members", type=int, default=Load.members)
    parser.add_argument("--slow-readers", type=int, default=Load.slow_readers)
    parser.add_argument("--triggers-per-sec", type=float, default=Load.triggers_per_sec)
    parser.add_argument("--out", help="also write the samples to this JSON file")
    args = parser.parse_args()
    load = Load(
        churners=args.churners,
        members=args.members,
        slow_readers=args.slow_readers,
        triggers_per_sec=args.triggers_per_sec,
        seconds=args.minutes * 60,
    )
    rows = asyncio.run(run(load, args.every))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
