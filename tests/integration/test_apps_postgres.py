"""``tidings serve`` on a PostgreSQL app store: changes arrive by NOTIFY, and when the database
goes away the server keeps serving the apps it has, says so once, and catches up when it is
back. A PostgreSQL server of this module's own, since the story stops it."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.apps import (
    added,
    apps_of,
    connect_outcome,
    soon,
    tidings_apps,
    trigger_status,
)
from tests.support.postgres_server import PostgresServer
from tests.support.raw_client import RawClient
from tests.support.server import AppSpec, TidingsServer

OUTAGE = "app database is unreachable"
BACK = "app database is reachable again"


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
def server(postgres: PostgresServer) -> Iterator[TidingsServer]:
    # One process even in the suite's 2-worker pass: each would log the outage once.
    settings = {"apps_database_url": postgres.create_database(), "workers": 1}
    with TidingsServer([AppSpec()], settings) as running:
        yield running


def ready(server: TidingsServer) -> int:
    with urllib.request.urlopen(f"{server.url}/ready", timeout=5) as response:
        return int(response.status)


async def accepted(server: TidingsServer, key: str) -> bool:
    return await connect_outcome(server, key) == 0


async def logged(server: TidingsServer, text: str) -> None:
    async with asyncio.timeout(10):
        while text not in server.log():
            await asyncio.sleep(0.05)


async def test_an_outage_is_served_from_the_cache_logged_once_and_caught_up(
    postgres: PostgresServer, server: TidingsServer
) -> None:
    app = added(server)
    await soon(lambda: accepted(server, app.key), "the new app's key is accepted")

    postgres.stop()
    await logged(server, OUTAGE)
    # Real work while the database is down: every connect and call is answered from memory.
    async with await RawClient.connect(server, app.key) as reader:
        await reader.subscribe("live")  # where trigger_status sends its events
        for _ in range(10):
            assert await connect_outcome(server, app.key) == 0
            assert await trigger_status(server, app) == 200
            await reader.expect("ping", "live")
    assert await asyncio.to_thread(ready, server) == 200
    cli = await asyncio.to_thread(tidings_apps, "list", config=server.config_path)
    assert cli.returncode == 1 and "cannot reach the app database" in cli.stderr

    postgres.start()
    await logged(server, BACK)
    assert server.log().count(OUTAGE) == 1
    apps_of(server, "disable", app.id)

    async def refused() -> bool:
        return await connect_outcome(server, app.key) == 4003

    await soon(refused, "a change after the outage reaches the node")
