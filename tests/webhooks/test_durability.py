"""Nothing handed to the webhook queue is lost: not when tidings is killed outright, and not when
the receiver stays down past the retry period (an operator replays the dead letter)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.raw_client import RawClient
from tests.support.server import ROOT, AppSpec, TidingsServer
from tests.webhooks.receiver import Receiver, node_sdk_accepts, python_sdk_accepts, webhook_settings

StartTidings = Callable[..., Awaitable[TidingsServer]]


def queued_events(data_dir: Path) -> list[dict[str, Any]]:
    """What the durable queue holds, read from its file the way any other process could."""
    path = data_dir / "webhooks.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        bodies = db.execute("SELECT body FROM webhooks WHERE failed_at IS NULL").fetchall()
    return [event for (body,) in bodies for event in json.loads(body)["events"]]


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def tidings_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


async def dead_letters(data_dir: Path) -> list[dict[str, Any]]:
    done = await asyncio.to_thread(
        tidings_cli, "webhooks", "failed", "--data-dir", str(data_dir), "--json"
    )
    assert done.returncode == 0, done.stderr
    entries: list[dict[str, Any]] = json.loads(done.stdout)
    return entries


async def test_webhooks_pending_when_tidings_is_killed_are_sent_after_a_restart(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    receiver = Receiver()  # not started yet: its port refuses connections
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    server = await start_tidings([app], webhook_settings(data))
    occupied = [
        {"name": "channel_occupied", "channel": "orders"},
        {"name": "channel_occupied", "channel": "invoices"},
    ]
    async with await RawClient.connect(server) as client:
        await client.subscribe("orders")
        await client.subscribe("invoices")
        await until(lambda: queued_events(data) == occupied, "both events in the queue")
        server.signal(signal.SIGKILL)
        assert server.process is not None
        await asyncio.to_thread(server.process.wait)

    await receiver.start()
    try:
        await start_tidings([app], webhook_settings(data))
        await receiver.wait_for(lambda: len(receiver.events()) >= 2, what="the queued webhooks")
        # (With TIDINGS_TEST_CLUSTER the killed supervisor's workers stop gracefully and also
        # report the channels vacated; a single killed process cannot.)
        assert all(event in receiver.events() for event in occupied)
        assert all(python_sdk_accepts(request, app) for request in receiver.accepted)
        await until(lambda: queued_events(data) == [], "the queue to empty after the 2xx")
    finally:
        await receiver.stop()


async def test_a_dead_letter_is_listed_and_replayed_from_the_cli(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    receiver = Receiver()  # down for longer than the (shortened) retry period
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    server = await start_tidings([app], webhook_settings(data, webhook_retry_period=1.0))
    async with await RawClient.connect(server) as client:
        await client.subscribe("orders")
        deadline = time.monotonic() + 15
        while not (entries := await dead_letters(data)):
            assert time.monotonic() < deadline, "no dead letter after the retry period"
            await asyncio.sleep(0.2)
        [entry] = entries
        assert entry["app_id"] == "4242" and entry["url"] == receiver.url()
        assert entry["events"] == [{"name": "channel_occupied", "channel": "orders"}]
        assert entry["attempts"] >= 2 and entry["last_error"]
        assert queued_events(data) == []  # no longer retried by the server

        config = str(server.config_path)
        again = await asyncio.to_thread(
            tidings_cli,
            "webhooks",
            "replay",
            str(entry["id"]),
            "--data-dir",
            str(data),
            "--config",
            config,
        )
        assert again.returncode == 1 and "failed again" in again.stdout
        assert [e["id"] for e in await dead_letters(data)] == [entry["id"]]

        await receiver.start()
        try:
            replay = await asyncio.to_thread(
                tidings_cli,
                "webhooks",
                "replay",
                "--all",
                "--data-dir",
                str(data),
                "--config",
                config,
            )
            assert replay.returncode == 0, replay.stdout + replay.stderr
            assert f"{entry['id']}: delivered" in replay.stdout
            [delivered] = receiver.accepted
            assert delivered.events == entry["events"]
            # Re-stamped and re-signed, so SDKs that refuse bodies over 5 minutes old accept it.
            assert python_sdk_accepts(delivered, app)
            assert node_sdk_accepts([delivered], app) == [True]
            assert await dead_letters(data) == []
        finally:
            await receiver.stop()
