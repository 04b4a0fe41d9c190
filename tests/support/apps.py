"""``tidings apps`` as an operator types it, and what a running server makes of the result."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pusher
from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus, PusherForbidden

from tests.support.raw_client import Closed, RawClient
from tests.support.server import ROOT, AppSpec, TidingsServer

# The promise: a change reaches every running node within 2 seconds.
PROPAGATION = 2.0


def tidings_apps(
    *args: str, config: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tidings apps ARGS`` with ``--config`` (the server's file, so its data_dir too)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    command = [sys.executable, "-m", "tidings", "apps", *args]
    if config is not None:
        command += ["--config", str(config)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=clean | (env or {}),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def apps_of(server: TidingsServer, *args: str) -> str:
    """``tidings apps ARGS`` against ``server``'s store; its output, or a failed assertion."""
    result = tidings_apps(*args, config=server.config_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def printed(output: str, name: str) -> str:
    """A value ``tidings apps`` printed as ``  name: value``."""
    match = re.search(rf"^\s*{name}:\s+(\S+)$", output, re.MULTILINE)
    assert match is not None, output
    return match.group(1)


def added(server: TidingsServer, *args: str) -> AppSpec:
    """``tidings apps add ARGS``: the app with the id, key and secret it printed."""
    output = apps_of(server, "add", *args)
    return AppSpec(printed(output, "id"), printed(output, "key"), printed(output, "secret"))


def sdk(server: TidingsServer, app: AppSpec, secret: str | None = None) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=app.id,
        key=app.key,
        secret=secret or app.secret,
        host=server.host,
        port=server.port,
        ssl=False,
    )


def status(call: Callable[[], Any]) -> int:
    """The HTTP status of an official SDK call: 200, or what its error says."""
    try:
        call()
    except PusherBadRequest:
        return 400
    except PusherBadAuth:
        return 401
    except PusherForbidden:
        return 403
    except PusherBadStatus as error:
        return int(str(error).split(":")[0])
    return 200


async def trigger_status(
    server: TidingsServer, app: AppSpec, secret: str | None = None, data: Any = None
) -> int:
    client = sdk(server, app, secret)
    return await asyncio.to_thread(
        status, lambda: client.trigger("live", "ping", data if data is not None else {})
    )


async def connect_outcome(server: TidingsServer, key: str) -> int:
    """0 when a new socket for ``key`` is accepted, else the code it was refused with."""
    async with aiohttp.ClientSession() as session:  # closed even when the handshake fails
        try:
            client = await RawClient.connect(server, key, session=session)
        except Closed as closed:
            return closed.code or -1
        await client.close()
        return 0


async def soon(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for ``check`` to hold, at most PROPAGATION seconds; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROPAGATION
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {PROPAGATION} s")
        await asyncio.sleep(0.05)
