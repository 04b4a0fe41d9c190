"""A real PostgreSQL server for tests: a throwaway cluster in a temp dir on a free loopback port.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to the
``postgres`` user Debian's package creates, and initdb and the server run as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.server import free_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major)
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/setup --system")
    return Path(found[-1]).parent


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.bindir = _bindir()
        self._root = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
        self.data = self._root / "data"
        self.log_path = self._root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._root, entry.pw_uid, entry.pw_gid)
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        self._run([*initdb, "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(command, user=self._user, capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.decode(errors='replace')}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server's, kept until stop()
        # No fsync: a test cluster is thrown away. Commits still reach the OS before they
        # return (synchronous_commit stays on), so they survive the server being killed.
        settings = ["fsync=off", "full_page_writes=off"]
        command = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        command += ["-h", "127.0.0.1", "-k", str(self._root)]
        self.process = subprocess.Popen(
            command + [word for setting in settings for word in ("-c", setting)],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited early:\n{self.log()}")
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not answer on port {self.port}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def create_database(self) -> str:
        """A fresh database of this server; its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Immediate shutdown: clients are cut off, as when the database host goes away."""
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
