"""``tidings serve --workers N``: one port, N processes, one shared state; refused without Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cluster.conftest import call, connect_to_both_workers, data
from tests.support.raw_client import RawClient, sdk_for
from tests.support.redis_server import RedisServer
from tests.support.server import ROOT, TidingsServer


def test_more_than_one_worker_without_redis_is_refused_with_status_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tidings", "serve", "--workers", "2", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--workers 2 needs shared state" in result.stderr
    assert "--redis-url" in result.stderr


async def test_two_workers_share_one_port_and_one_state_then_drain_on_sigterm(
    redis_server: RedisServer,
) -> None:
    server = TidingsServer(server={"redis_url": redis_server.url, "workers": 2}).start()
    clients: list[RawClient] = []
    try:
        await connect_to_both_workers(server, clients)
        for client in clients:
            await client.subscribe("shared")
        await call(sdk_for(server).trigger, "shared", "hello", {"to": "all"})
        for client in clients:
            frame = await client.next_event()
            assert (frame["event"], data(frame)) == ("hello", {"to": "all"})
        info = await call(sdk_for(server).channel_info, "shared", ["subscription_count"])
        assert info["subscription_count"] == len(clients)

        server.signal(signal.SIGTERM)
        for client in clients:
            assert await client.close_code() == 4200  # every worker drained its sockets
        assert server.stop() == 0
    finally:
        for client in clients:
            await client.close()
        server.stop()


async def test_workers_drain_and_exit_when_their_supervisor_is_killed(
    redis_server: RedisServer,
) -> None:
    server = TidingsServer(server={"redis_url": redis_server.url, "workers": 2}).start()
    workers: list[int] = []
    try:
        assert server.process is not None
        workers += [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(workers) == 2
        async with await RawClient.connect(server) as client:
            server.signal(signal.SIGKILL)  # the supervisor cannot forward anything now
            assert await client.close_code() == 4200
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in workers):
            assert time.monotonic() < deadline, f"orphaned workers kept running:\n{server.log()}"
            await asyncio.sleep(0.1)
    finally:
        server.stop()
        for pid in workers:  # never leave an orphan behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by whoever adopted it, maybe never)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
