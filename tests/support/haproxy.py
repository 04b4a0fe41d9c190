"""A real HAProxy in front of tidings, for the client-address tests: it speaks the PROXY
protocol (v1, v2) and adds ``X-Forwarded-For`` as a deployment's load balancer would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.server import free_port

# The address HAProxy connects to tidings from: the one tidings is told to trust.
PROXY_SOURCE = "127.0.0.4"


class HAProxy:
    """Frontends on free loopback ports, each to ``backend_port`` on 127.0.0.1: ``v1`` and
    ``v2`` in TCP mode with a PROXY header, ``http`` in HTTP mode with X-Forwarded-For."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.ports = {name: free_port() for name in ("v1", "v2", "http")}
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-haproxy-")
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        backend = f"127.0.0.1:{self.backend_port} source {PROXY_SOURCE}"
        return f"""
global
    maxconn 512
defaults
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend v1
    mode tcp
    bind 127.0.0.1:{self.ports["v1"]}
    default_backend tidings_v1
backend tidings_v1
    mode tcp
    server tidings {backend} send-proxy
frontend v2
    mode tcp
    bind 127.0.0.1:{self.ports["v2"]}
    default_backend tidings_v2
backend tidings_v2
    mode tcp
    server tidings {backend} send-proxy-v2
frontend http
    mode http
    option forwardfor
    bind 127.0.0.1:{self.ports["http"]}
    default_backend tidings_http
backend tidings_http
    mode http
    server tidings {backend}
"""

    def start(self, timeout: float = 10.0) -> HAProxy:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise RuntimeError("haproxy is not installed: run scripts/setup --system")
        config = Path(self._dir.name) / "haproxy.cfg"
        config.write_text(self._config())
        self.process = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        for port in self.ports.values():
            while True:
                if self.process.poll() is not None:
                    assert self.process.stderr is not None
                    raise RuntimeError(f"haproxy exited: {self.process.stderr.read().decode()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("haproxy did not start listening") from None
                    time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        self._dir.cleanup()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
