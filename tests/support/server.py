"""A real ``tidings serve`` process for tests: own port, own config file, stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait (a clean drain exits 0), SIGKILL past ``timeout``; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLUSTER_RUNS = ("redis", "redis-cluster")


def cluster_run() -> str | None:
    """TIDINGS_TEST_CLUSTER: which Redis every single-node test server runs on, as 2 workers
    (None: one process, no Redis)."""
    kind = os.environ.get("TIDINGS_TEST_CLUSTER") or None
    if kind is not None and kind not in CLUSTER_RUNS:
        raise RuntimeError(f"TIDINGS_TEST_CLUSTER={kind!r}: use one of {', '.join(CLUSTER_RUNS)}")
    return kind


def in_cluster_run() -> bool:
    """Whether this run puts every single-node test server on a Redis (TIDINGS_TEST_CLUSTER)."""
    return cluster_run() is not None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def render_config(server: dict[str, Any], apps: list[dict[str, Any]]) -> str:
    lines = ["[server]"] + [f"{k} = {_toml_value(v)}" for k, v in server.items()]
    for app in apps:
        lines += ["", "[[apps]]"] + [f"{k} = {_toml_value(v)}" for k, v in app.items()]
    return "\n".join(lines) + "\n"


@dataclass
class AppSpec:
    id: str = "4242"
    key: str = "test-key"
    secret: str = "test-secret"  # test fixture credential
    settings: dict[str, Any] = field(default_factory=dict)

    def as_config(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "secret": self.secret, **self.settings}


class TidingsServer:
    """Starts ``python -m tidings serve`` and waits for ``/ready``."""

    def __init__(
        self,
        apps: list[AppSpec] | None = None,
        server: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        ca_file: str | None = None,
    ) -> None:
        """``ca_file``: the CA that signed the server's ``tls_cert``, which clients trust."""
        self.apps = apps or [AppSpec()]
        self.ca_file = ca_file
        self.port = free_port()
        self.host = "127.0.0.1"
        self.env = env or {}
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-test-")
        # A data directory of its own: the app database and webhook queue are this server's.
        self.data_dir = Path(self._dir.name) / "data"
        self.server_settings = {
            "host": self.host,
            "port": self.port,
            "data_dir": str(self.data_dir),
            **(server or {}),
        }
        self.config_path = Path(self._dir.name) / "tidings.toml"
        self.log_path = Path(self._dir.name) / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._redis: Any = None  # the RedisServer or RedisClusterSetup of a cluster run

    @property
    def app(self) -> AppSpec:
        return self.apps[0]

    @property
    def tls(self) -> bool:
        return bool(self.server_settings.get("tls_cert") or self.env.get("TIDINGS_TLS_CERT"))

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def client_tls(self) -> ssl.SSLContext | None:
        """A client context trusting ``ca_file`` when the server speaks TLS."""
        return ssl.create_default_context(cafile=self.ca_file) if self.tls else None

    def start(self, timeout: float = 15.0) -> TidingsServer:
        self.config_path.write_text(
            render_config(self.server_settings, [a.as_config() for a in self.apps])
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
        env.update(self.env)
        try:
            command = [
                sys.executable,
                "-m",
                "tidings",
                "serve",
                "--config",
                str(self.config_path),
                *self._cluster_args(),
            ]
            self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
            self.process = subprocess.Popen(
                command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
            )
            return self._wait_ready(timeout)
        except BaseException:
            self.stop()  # a server that never came up leaves no process (or Redis) behind
            raise

    def _wait_ready(self, timeout: float) -> TidingsServer:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tidings exited early:\n{self.log()}")
            try:
                ready = urllib.request.urlopen(
                    f"{self.url}/ready", timeout=1, context=self.client_tls()
                )
                with ready as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"tidings did not become ready:\n{self.log()}")

    def _cluster_args(self) -> list[str]:
        """In a cluster run (``in_cluster_run``), run as 2 workers sharing an own Redis, so the
        single-node suite also checks the cluster (see docs/cluster.md): one redis-server with
        TIDINGS_TEST_CLUSTER=redis, a 3-master Redis Cluster with =redis-cluster."""
        kind = cluster_run()
        if kind is None:
            return []
        if "redis_url" in self.server_settings or "workers" in self.server_settings:
            return []
        if self._redis is None:
            if kind == "redis":
                from tests.support.redis_server import RedisServer

                self._redis = RedisServer().start()
            else:
                from tests.support.redis_cluster import started_cluster

                self._redis = started_cluster()
        return ["--workers", "2", "--redis-url", self._redis.url]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        code = None
        if self.process is not None:
            code = terminate(self.process, timeout)
            self._log.close()
            self.process = None
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        return code

    def rss_kib(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def __enter__(self) -> TidingsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
