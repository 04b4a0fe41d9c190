"""Laravel Echo on a history channel: the ``serial`` and ``epoch`` tidings adds beside
``event``, ``channel`` and ``data`` change nothing for it; its listeners get each event's data,
in order, as on any other channel (docs/history.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import ROOT, AppSpec, TidingsServer

call = asyncio.to_thread
HISTORY = [{"channels": "agent-*", "max_events": 50, "ttl": 3600}]


def next_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the Echo listener exited"
    parsed: dict[str, Any] = json.loads(line)
    return parsed


async def test_echo_listeners_get_history_events_like_any_other() -> None:
    with TidingsServer([AppSpec(settings={"history": HISTORY})]) as server:
        options = {
            "key": server.app.key,
            "host": server.host,
            "port": server.port,
            "channel": "agent-42",
            "event": "agent-message",
        }
        echo = subprocess.Popen(
            ["node", str(ROOT / "tests/support/echo_listener.mjs"), json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert await call(next_line, echo) == {"type": "subscribed"}
            async with await RawClient.connect(server) as raw:
                await raw.subscribe("agent-42")
                sdk = sdk_for(server)
                for step in range(1, 4):
                    await call(sdk.trigger, "agent-42", "agent-message", {"step": step})
                frames = [await raw.expect("agent-message", "agent-42") for _ in range(3)]
            # What went over the wire carried the extra fields...
            assert [frame["serial"] for frame in frames] == [1, 2, 3]
            assert len({frame["epoch"] for frame in frames}) == 1
            # ...and Echo's listener saw only the data, each event once, in order.
            received = [await call(next_line, echo) for _ in range(3)]
            assert received == [{"type": "event", "data": {"step": n}} for n in (1, 2, 3)]
        finally:
            assert echo.stdin is not None
            echo.stdin.close()
            echo.wait(10)
