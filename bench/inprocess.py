"""Server CPU per WebSocket connect+subscribe, per HTTP trigger and per fan-out delivery,
measured in-process.

The wire scenarios (bench/run.py) are bound by their load generator for connects, and a
2-core VM makes their per-connect figures vary by ±20% from run to run. This drives tidings'
own network layer (``HttpConnection``, the WebSocket upgrade and framing, the Pusher session,
the app store) with in-memory transports on one event loop: no sockets and no load generator,
so what is timed is the server's work alone, and two set-ups can be compared to a percent.

    .venv/bin/python -m bench.inprocess --stores static,sqlite,postgres
    .venv/bin/python -m bench.inprocess --stores static --checkouts /tmp/after,/tmp/before

``static``: the app in the config file (``apps_database_url = "none"``); ``sqlite`` and
``postgres``: the same app added with ``tidings apps add`` to the SQLite store and to a
throwaway PostgreSQL (Debian's, started like the tests' one). ``--checkouts`` runs each store
with each checkout's ``src/`` first on the path, to price a change. Rounds alternate between
the set-ups, each in a process of its own, and the report gives each one's median.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_ID, KEY, SECRET = "app-id", "app-key", "app-secret"
SETTINGS = {"max_backend_events_per_sec": -1, "max_read_req_per_sec": -1, "max_connections": -1}


class Transport:
    """What asyncio hands a protocol, minus the socket: writes are counted and dropped."""

    def __init__(self) -> None:
        self.protocol: Any = None
        self.written = 0
        self.closed = False

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


def masked_text(text: str) -> bytes:
    """A client's WebSocket text frame (RFC 6455: masked), payload under 126 bytes."""
    payload, mask = text.encode(), b"\x01\x02\x03\x04"
    assert len(payload) < 126
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


UPGRADE = (
    f"GET /app/{KEY}?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    f"Sec-WebSocket-Key: {base64.b64encode(b'0123456789abcdef').decode()}\r\n\r\n"
).encode()
SUBSCRIBE = masked_text('{"event":"pusher:subscribe","data":{"channel":"idle"}}')


def trigger_request(channel: str = "c") -> bytes:
    body = json.dumps({"name": "e", "channel": channel, "data": '{"n":1}'}).encode()
    params = {
        "auth_key": KEY,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    query = "&".join(f"{name}={params[name]}" for name in sorted(params))
    path = f"/apps/{APP_ID}/events"
    signed = f"POST\n{path}\n{query}".encode()
    signature = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    head = (
        f"POST {path}?{query}&auth_signature={signature} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def measure(config_path: str, connects: int, requests: int, fanouts: int) -> dict[str, float]:
    from tidings.apps.choose import close_app_store, open_app_store
    from tidings.config import load
    from tidings.net.connection import HttpConnection
    from tidings.net.listener import Listener
    from tidings.server.app import Application, build_context
    from tidings.server.runner import limits_for

    config = load(config_path, {})
    apps = await open_app_store(config)
    ctx = build_context(config, apps)
    await ctx.adapter.start()
    listener = Listener(Application(ctx), limits_for(config.server))
    figures: dict[str, float] = {}
    gc.freeze()  # as tidings serve does once started (server/runner.py)

    # Connect and subscribe, all sockets kept open (as the idle scenario does).
    transports = [Transport() for _ in range(connects)]
    started = time.process_time()
    for transport in transports:
        conn = HttpConnection(listener)
        transport.set_protocol(conn)
        conn.connection_made(transport)  # type: ignore[arg-type]
        conn.data_received(UPGRADE)
        await asyncio.sleep(0)
        transport.protocol.data_received(SUBSCRIBE)
        await asyncio.sleep(0)
    figures["connect_us"] = (time.process_time() - started) / connects * 1e6
    assert len(ctx.connections) == connects, "every socket should be connected"

    # Fan-out: triggers to the channel every one of those sockets is subscribed to.
    http = Transport()
    conn = HttpConnection(listener)
    http.set_protocol(conn)
    conn.connection_made(http)  # type: ignore[arg-type]
    request, written = trigger_request("idle"), [t.written for t in transports]
    started = time.process_time()
    for _ in range(fanouts):
        conn.data_received(request)
        await asyncio.sleep(0)
    figures["delivery_ns"] = (time.process_time() - started) / (fanouts * connects) * 1e9
    got = [t.written > was for t, was in zip(transports, written, strict=True)]
    assert fanouts == 0 or all(got), "every socket should get the events"
    http.close()
    for transport in transports:
        transport.close()
    while ctx.connections:  # every socket's clean-up done before the next phase
        await asyncio.sleep(0.01)

    # HTTP triggers on one keep-alive connection.
    transport = Transport()
    conn = HttpConnection(listener)
    transport.set_protocol(conn)
    conn.connection_made(transport)  # type: ignore[arg-type]
    request = trigger_request()
    before = transport.written
    started = time.process_time()
    for _ in range(requests):
        conn.data_received(request)
        await asyncio.sleep(0)
    figures["trigger_us"] = (time.process_time() - started) / requests * 1e6
    assert transport.written > before, "the triggers should have been answered"
    await ctx.adapter.close()
    await close_app_store(apps)
    return figures


def config_for(store: str, workdir: Path, postgres_url: str) -> Path:
    data = workdir / store
    config = workdir / f"{store}.toml"
    lines = ["[server]", f'data_dir = "{data}"', 'host = "127.0.0.1"']
    if store == "static":
        lines.append('apps_database_url = "none"')
    elif store == "postgres":
        lines.append(f'apps_database_url = "{postgres_url}"')
    if store == "static":
        app = [f'id = "{APP_ID}"', f'key = "{KEY}"', f'secret = "{SECRET}"']
        app += [f"{name} = {value}" for name, value in SETTINGS.items()]
        lines += ["[[apps]]", *app]
    config.write_text("\n".join(lines) + "\n")
    if store != "static":
        settings = [f"{name}={value}" for name, value in SETTINGS.items()]
        add = [sys.executable, "-m", "tidings", "apps", "add", "--config", str(config)]
        add += [f"--id={APP_ID}", f"--key={KEY}", f"--secret={SECRET}", *settings]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        subprocess.run(add, check=True, capture_output=True, cwd=ROOT, env=env)
    return config


FIGURES = (
    ("connect_us", "connect+subscribe", "us"),
    ("trigger_us", "trigger", "us"),
    ("delivery_ns", "fan-out", "ns per delivery"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", default="static,sqlite,postgres")
    parser.add_argument(
        "--checkouts",
        default="",
        help="checkouts to compare, comma-separated (each one's src/ first on the path)",
    )
    parser.add_argument("--connects", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--fanouts", type=int, default=200, help="triggers to all the sockets")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: measure this config
    args = parser.parse_args()
    sizes = (args.connects, args.requests, args.fanouts)
    if args.one:
        import uvloop  # as tidings serve runs (tidings/eventloop.py)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            print(json.dumps(runner.run(measure(args.one, *sizes))))
        return 0
    stores = args.stores.split(",")
    checkouts = [Path(c).absolute() for c in args.checkouts.split(",") if c] or [ROOT]
    setups = [(c, s) for c in checkouts for s in stores]
    # A checkout is named by its folder, or by its whole path where two folders share a name.
    short = len({c.name for c in checkouts}) == len(checkouts)
    names = {
        (c, s): s if len(checkouts) == 1 else f"{s}@{c.name if short else c}" for c, s in setups
    }
    postgres = None
    with tempfile.TemporaryDirectory() as tmp:
        url = ""
        if "postgres" in stores:
            sys.path.insert(0, str(ROOT))
            from tests.support.postgres_server import PostgresServer

            postgres = PostgresServer().start()
            url = postgres.create_database()
        try:
            configs = {store: config_for(store, Path(tmp), url) for store in stores}
            results: dict[str, list[dict[str, float]]] = {names[s]: [] for s in setups}
            for turn in range(args.rounds):
                for checkout, store in setups if turn % 2 == 0 else reversed(setups):
                    child = [sys.executable, "-m", "bench.inprocess", "--one", str(configs[store])]
                    child += [
                        f"--{n}={v}"
                        for n, v in zip(("connects", "requests", "fanouts"), sizes, strict=True)
                    ]
                    path = [str(checkout / "src"), os.environ.get("PYTHONPATH", "")]
                    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
                    out = subprocess.run(
                        child, check=True, capture_output=True, text=True, cwd=ROOT, env=env
                    )
                    results[names[(checkout, store)]].append(
                        json.loads(out.stdout.splitlines()[-1])
                    )
        finally:
            if postgres is not None:
                postgres.close()
    print(
        f"{args.rounds} rounds, {args.connects} connects, {args.requests} triggers and "
        f"{args.fanouts} fan-outs each"
    )
    report(results)
    return 0


def report(results: dict[str, list[dict[str, float]]]) -> None:
    """Each set-up's median, the median of its round-by-round ratios to the first set-up (a
    slow spell of the machine hits both of a round), and every round's figure."""
    base = next(iter(results))
    for name, rows in results.items():
        cells = []
        for key, label, unit in FIGURES:
            values = [row[key] for row in rows]
            bases = [row[key] for row in results[base]]
            ratios = [a / b for a, b in zip(values, bases, strict=True) if b]
            paired = statistics.median(ratios) if ratios else float("nan")
            spread = [round(value, 1) for value in values]
            cells.append(
                f"{label} {statistics.median(values):.1f} {unit} ({paired:.3f}x {base}) {spread}"
            )
        print(f"{name:9s} " + " | ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
