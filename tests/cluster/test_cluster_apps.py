"""Two nodes on one PostgreSQL app store (and one Redis): an app added, rotated and disabled
with the CLI of one node reaches the other node within 2 seconds, with no restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.cluster.conftest import start_nodes
from tests.support.apps import (
    PROPAGATION,
    added,
    apps_of,
    connect_outcome,
    printed,
    sdk,
    soon,
    trigger_status,
)
from tests.support.postgres_server import PostgresServer
from tests.support.raw_client import RawClient
from tests.support.redis_server import RedisServer
from tests.support.server import AppSpec, TidingsServer

APP_DISABLED = 4003


@pytest.fixture
def nodes(
    redis_server: RedisServer, postgres_server: PostgresServer
) -> Iterator[list[TidingsServer]]:
    url = postgres_server.create_database()
    started = start_nodes(redis_server, AppSpec(), count=2, apps_database_url=url)
    yield started
    for node in started:
        node.stop()


async def test_a_change_made_on_one_node_reaches_the_other(nodes: list[TidingsServer]) -> None:
    a, b = nodes
    app = added(a)  # through node A's configuration: its database is B's too

    async def accepted_on_b() -> bool:
        return await connect_outcome(b, app.key) == 0

    async def accepted_on_a() -> bool:  # the CLI wrote to the database; A learns as B does
        return await connect_outcome(a, app.key) == 0

    await soon(accepted_on_b, "node B accepts the app added through node A's configuration")
    await soon(accepted_on_a, "node A accepts it too")
    async with await RawClient.connect(b, app.key) as reader:
        await reader.subscribe("private-news", sdk(b, app))
        await asyncio.to_thread(sdk(a, app).trigger, "private-news", "hello", {"from": "A"})
        await reader.expect("hello", "private-news")

        new_secret = printed(apps_of(a, "rotate-secret", app.id), "secret")

        async def old_secret_refused_on_b() -> bool:
            return await trigger_status(b, app) == 401

        await soon(old_secret_refused_on_b, "node B refuses the old secret")
        assert await trigger_status(b, app, new_secret) == 200

        apps_of(a, "disable", app.id)
        async with asyncio.timeout(PROPAGATION):
            assert await reader.close_code(PROPAGATION) == APP_DISABLED
    assert await connect_outcome(b, app.key) == APP_DISABLED
