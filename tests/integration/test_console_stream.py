"""The console's feed as a program reads it: what a connection's end looks like, with its close
code, whoever closed it, and how many consoles may watch at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.server import AppSpec, TidingsServer
from tidings.server.console.stream import MAX_STREAMS

DEV_APP = AppSpec("1000", "tidings-dev-key", "tidings-dev-secret")  # the documented dev app
# A console watches the process that serves its stream; these stories need every socket there,
# so they keep one process even in the suite's cluster runs (TIDINGS_TEST_CLUSTER).
ONE_PROCESS = {"workers": 1}


def console_url(server: TidingsServer) -> str:
    return f"ws://{server.host}:{server.port}/console/stream?app={DEV_APP.id}"


def pusher_url(server: TidingsServer) -> str:
    return f"ws://{server.host}:{server.port}/app/{DEV_APP.key}?protocol=7"


async def next_news(console: ClientConnection, kind: str, socket_id: str) -> dict[str, Any]:
    while True:
        document = json.loads(await asyncio.wait_for(console.recv(), 5))
        if document["type"] != "activity":
            continue
        for entry in document["events"]:
            if entry["kind"] == kind and entry.get("socket_id") == socket_id:
                return entry  # type: ignore[no-any-return]


async def established(client: ClientConnection) -> str:
    frame = json.loads(await asyncio.wait_for(client.recv(), 5))
    assert frame["event"] == "pusher:connection_established"
    return json.loads(frame["data"])["socket_id"]  # type: ignore[no-any-return]


async def ends(server: TidingsServer) -> dict[str, int | None]:
    """Three connections ended three ways, and the close code the console reported for each."""
    codes: dict[str, int | None] = {}
    async with connect(console_url(server)) as console:
        await asyncio.wait_for(console.recv(), 5)  # the first figures: it watches

        async with connect(pusher_url(server)) as client:
            socket_id = await established(client)
            await client.close(4321, "the client's own reason")
        codes["client"] = (await next_news(console, "disconnected", socket_id)).get("code")

        async with connect(pusher_url(server), max_size=None) as client:
            socket_id = await established(client)
            await client.send("x" * (300 * 1024))  # over max_frame_bytes: the server closes
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(client.recv(), 5)
        codes["server"] = (await next_news(console, "disconnected", socket_id)).get("code")

        client = await connect(pusher_url(server))
        socket_id = await established(client)
        client.transport.abort()  # gone without a close frame
        codes["dropped"] = (await next_news(console, "disconnected", socket_id)).get("code")
    return codes


def test_the_console_reports_how_each_connection_ended(
    make_server: Callable[..., TidingsServer],
) -> None:
    server = make_server([DEV_APP], ONE_PROCESS)

    assert asyncio.run(ends(server)) == {"client": 4321, "server": 1009, "dropped": None}


async def open_consoles(server: TidingsServer, count: int) -> tuple[int | None, int]:
    """Open ``count`` consoles: the close code of the last one, and how many watch."""
    consoles = [await connect(console_url(server)) for _ in range(count)]
    try:
        for console in consoles[:-1]:
            assert json.loads(await asyncio.wait_for(console.recv(), 5))["type"] == "stats"
        try:
            await asyncio.wait_for(consoles[-1].recv(), 5)
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), count - 1
        return None, count
    finally:
        for console in consoles:
            await console.close()


def test_a_few_consoles_may_watch_at_once(make_server: Callable[..., TidingsServer]) -> None:
    server = make_server([DEV_APP], ONE_PROCESS)

    assert asyncio.run(open_consoles(server, MAX_STREAMS + 1)) == (4429, MAX_STREAMS)
    assert asyncio.run(open_consoles(server, MAX_STREAMS)) == (None, MAX_STREAMS)  # freed again
