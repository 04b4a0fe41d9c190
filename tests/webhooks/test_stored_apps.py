"""Webhooks of apps kept in the app database: set with ``tidings apps`` on a running server
that had none, they start flowing; after ``rotate-secret`` they are signed with the new secret,
which the official SDKs' validators accept."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.apps import (
    added,
    apps_of,
    connect_outcome,
    printed,
    soon,
    trigger_status,
)
from tests.support.raw_client import RawClient
from tests.support.server import AppSpec, TidingsServer
from tests.webhooks.receiver import Receiver, node_sdk_accepts, python_sdk_accepts, webhook_settings


def occupied(receiver: Receiver, channel: str) -> list[dict[str, object]]:
    return [e for e in receiver.events() if e == {"name": "channel_occupied", "channel": channel}]


async def test_webhooks_set_on_a_running_server_are_sent_and_signed_with_the_current_secret(
    tmp_path: Path,
    receiver: Receiver,
    start_tidings: Callable[..., Awaitable[TidingsServer]],
) -> None:
    # One process even in the suite's 2-worker pass: that a change reached one worker says
    # nothing of the other (tests/cluster/test_cluster_apps.py follows changes across nodes).
    settings = webhook_settings(tmp_path / "data", workers=1)
    server = await start_tidings([AppSpec()], settings)
    hooks = json.dumps([{"url": receiver.url(), "event_types": ["channel_occupied"]}])
    app = added(server, f"webhooks={hooks}")  # the first app with webhooks on this server

    async def accepted() -> bool:
        return await connect_outcome(server, app.key) == 0

    await soon(accepted, "the app with webhooks is accepted")
    async with await RawClient.connect(server, app.key) as client:
        await client.subscribe("first")
        await receiver.wait_for(lambda: bool(occupied(receiver, "first")))
    first = receiver.accepted[-1]
    assert python_sdk_accepts(first, app)

    rotated = dataclasses.replace(
        app, secret=printed(apps_of(server, "rotate-secret", app.id), "secret")
    )

    async def old_refused() -> bool:
        return await trigger_status(server, app) == 401

    await soon(old_refused, "the rotation reached the server")
    async with await RawClient.connect(server, app.key) as client:
        await client.subscribe("second")
        await receiver.wait_for(lambda: bool(occupied(receiver, "second")))
    second = receiver.accepted[-1]
    assert python_sdk_accepts(second, rotated) and not python_sdk_accepts(second, app)
    assert await asyncio.to_thread(node_sdk_accepts, [second], rotated) == [True]
