"""A real ``redis-server`` for tests: own port, no persistence, restartable on the same port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable

import redis

from tests.support.server import free_port


def wait_until(what: str, check: Callable[[], object], timeout: float) -> None:
    """Poll ``check`` (a callable) until it returns something true; it may raise meanwhile."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError as error:
            last = error
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout}s (last error: {last})")


class RedisServer:
    def __init__(self, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.args = args  # more redis-server options, e.g. ("--replicaof", host, port)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/setup --system")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill_pubsub_clients(self) -> int:
        """CLIENT KILL TYPE pubsub: every connection subscribed here (classic or sharded)
        drops; returns how many did."""
        with redis.Redis(port=self.port, socket_timeout=5) as client:
            return int(client.client_kill_filter(_type="pubsub"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # the harshest stop: no goodbye to clients, data gone
            self.process.wait()
            self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
