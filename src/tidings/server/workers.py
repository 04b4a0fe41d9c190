"""``tidings serve --workers N``: N processes on one port, one supervisor in front.

Each worker is a full node on the same port (SO_REUSEPORT: the kernel spreads new connections)
sharing state through Redis. The supervisor only forwards signals: SIGTERM/SIGINT, so every
worker drains its own sockets, and exits once they all have, and SIGHUP, on which each reloads
its TLS certificate. If a worker dies on its own the supervisor stops the others and exits
non-zero, leaving restarts to whatever runs tidings (systemd, Kubernetes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from tidings.config import Config

METRICS_DIR_ENV = "TIDINGS_METRICS_DIR"  # read by tidings.server.metrics.share

WORKER_ENV = "TIDINGS_WORKER_INDEX"
SUPERVISOR_ENV = "TIDINGS_SUPERVISOR_PID"
log = logging.getLogger("tidings")


def worker_index() -> int | None:
    """This process's worker number when a supervisor started it, else None."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value is not None and value.isdigit() else None


def supervise(config: Config, argv: Sequence[str]) -> int:
    workers: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    def pass_on(signum: int, frame: FrameType | None) -> None:
        for worker in workers:  # SIGHUP: each worker reloads its TLS certificate itself
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # Where the workers leave their metrics for each other (tidings.server.metrics.share).
    metrics_dir = tempfile.mkdtemp(prefix="tidings-metrics-")
    tls = bool(config.server.tls_cert)  # without TLS, SIGHUP keeps its default, as for one process
    if tls:
        # Ignored, and so inherited by each worker, until its loop handles it: a reload must
        # not kill a worker that is still starting.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for index in range(config.server.workers):
        env = {
            **os.environ,
            WORKER_ENV: str(index),
            SUPERVISOR_ENV: str(os.getpid()),
            METRICS_DIR_ENV: metrics_dir,
        }
        workers.append(subprocess.Popen([sys.executable, "-m", "tidings", *argv], env=env))
    if tls:
        signal.signal(signal.SIGHUP, pass_on)
    status = 0
    while any(worker.poll() is None for worker in workers):
        for worker in workers:
            code = worker.poll()
            if code is not None and code != 0 and not stopping:
                log.error("worker %d exited with status %d; stopping the others", worker.pid, code)
                status = 1
                forward(signal.SIGTERM, None)
        time.sleep(0.1)
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return status


async def stop_when_orphaned(stop: asyncio.Event, interval: float = 1.0) -> None:
    """A worker whose supervisor died (SIGKILL forwards nothing) drains and exits by itself,
    rather than holding the port with nobody to stop it."""
    # From the environment, not getppid() now: the supervisor may be gone already.
    parent = int(os.environ.get(SUPERVISOR_ENV) or os.getppid())
    while not stop.is_set():
        await asyncio.sleep(interval)
        if os.getppid() != parent:
            log.warning("the supervisor (pid %d) is gone; this worker drains and exits", parent)
            stop.set()
