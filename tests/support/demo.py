"""A real ``tidings demo`` process for tests: the guide's app plus tidings, on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.server import ROOT, AppSpec, free_port, terminate

CLUSTER = "test-cluster"


@dataclass
class TidingsAt:
    """Where the demo's tidings listens, shaped like ``TidingsServer`` for the test clients."""

    host: str
    port: int
    app: AppSpec
    log_path: Path
    tls: bool = False  # the demo's tidings speaks plain HTTP
    ca_file: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class DemoProcess:
    """Runs ``python -m tidings demo`` with the app's credentials as ``PUSHER_*`` variables.

    With ``external_server`` the demo starts no tidings of its own and uses ``server_port``.
    """

    def __init__(
        self,
        app: AppSpec | None = None,
        *,
        server_port: int | None = None,
        external_server: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.app = app or AppSpec()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.server_port = server_port or free_port()
        self.external_server = external_server
        self.extra_env = env or {}
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-demo-test-")
        self.log_path = Path(self._dir.name) / "demo.log"
        self.tidings = TidingsAt(self.host, self.server_port, self.app, self.log_path)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "tidings", "demo", "--port", str(self.port)]
        command += ["--server-port", str(self.server_port)]
        return command + (["--external-server"] if self.external_server else [])

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
        env.update(
            PUSHER_APP_ID=self.app.id,
            PUSHER_KEY=self.app.key,
            PUSHER_SECRET=self.app.secret,
            PUSHER_CLUSTER=CLUSTER,
            TIDINGS_LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 20.0) -> DemoProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tidings demo exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"tidings demo did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.tidings.log()

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        code = terminate(self.process, timeout)
        self._log.close()
        self.process = None
        return code

    def __enter__(self) -> DemoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
