"""What tidings writes to its log: a line per connection opened and closed, per refused
subscription and per failed API request; ``--log-format json`` makes each one a JSON object;
and no secret, signature or auth token ever appears in a line."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import ROOT, AppSpec, TidingsServer

call = asyncio.to_thread
SECRET = "log-test-secret-4f1b9c"  # test fixture credential


def records(log: str) -> list[dict[str, Any]]:
    """Every line of the log (stdout and stderr), each of which must be one JSON object."""
    return [json.loads(line) for line in log.splitlines() if line]


async def logged(server: TidingsServer, check: Any, timeout: float = 10.0) -> list[Any]:
    """The log's records once ``check`` finds what it wants in them (they are written as the
    server goes: a worker's banner when it listens, a close once the socket is cleaned up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check(lines := records(server.log())) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return lines


def banner(lines: list[dict[str, Any]]) -> bool:
    return any(r["message"].startswith("tidings") and "listening" in r["message"] for r in lines)


def two_closes(lines: list[dict[str, Any]]) -> bool:
    return len([r for r in lines if "closed:" in r["message"]]) >= 2


async def a_busy_session(server: TidingsServer) -> list[str]:
    """Connect, subscribe with auth, trigger, fail a few ways; return what must stay secret."""
    sdk = sdk_for(server)
    tokens: list[str] = []
    async with await RawClient.connect(server) as client:
        auth = sdk.authenticate("private-chat", client.socket_id)
        tokens.append(auth["auth"].split(":", 1)[1])
        await client.send("pusher:subscribe", {"channel": "private-chat", **auth})
        await client.expect("pusher_internal:subscription_succeeded", "private-chat")
        presence = sdk.authenticate("presence-room", client.socket_id, {"user_id": "ada"})
        tokens.append(presence["auth"].split(":", 1)[1])
        await client.send("pusher:subscribe", {"channel": "presence-room", **presence})
        await client.expect("pusher_internal:subscription_succeeded", "presence-room")
        forged = f"{server.app.key}:{'0' * 64}"
        await client.send("pusher:subscribe", {"channel": "private-vault", "auth": forged})
        await client.expect("pusher:subscription_error", "private-vault")
        await call(sdk.trigger, "private-chat", "hello", {"n": 1})
        await client.expect("hello", "private-chat")
        with pytest.raises(Exception, match="401"):
            await call(sdk_for(server, secret="wrong-secret").trigger, "news", "x", {})
    return tokens


async def test_json_logs_tell_each_connection_refusal_and_failed_request() -> None:
    app = AppSpec(secret=SECRET)
    server = TidingsServer([app], env={"TIDINGS_LOG_FORMAT": "json"}).start()
    try:
        assert banner(await logged(server, banner))  # the first worker's, with --workers
        tokens = await a_busy_session(server)
        client = await RawClient.connect(server)
        await client.vanish()
        await logged(server, two_closes)
    finally:
        server.stop()
    log = server.log()
    lines = records(log)
    opened = [r for r in lines if "opened:" in r["message"]]
    assert len(opened) == 2
    assert {"socket_id", "app_id", "remote", "time", "level", "logger"} <= set(opened[0])
    assert opened[0]["app_id"] == "4242"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", opened[0]["remote"])
    ends = [r for r in lines if "closed:" in r["message"]]
    assert sorted(r["code"] for r in ends) == [1000, 1006]
    assert all(r["duration"] >= 0 for r in ends)
    refused = [r for r in lines if "refused" in r["message"] and "private-vault" in r["message"]]
    assert refused and refused[0]["status"] == 401
    failed = [r for r in lines if r.get("endpoint") == "trigger_event"]
    assert failed and failed[0]["status"] == 401
    assert "?" not in failed[0]["message"]  # the query string carries the signature

    for secret in (SECRET, *tokens):
        assert secret not in log
    assert "auth_signature" not in log


def test_a_bad_log_format_is_refused_at_start_up() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tidings", "--log-format", "xml", "serve"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--log-format" in result.stderr and "json" in result.stderr
