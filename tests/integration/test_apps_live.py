"""An operator changes apps with ``tidings apps`` while ``tidings serve`` runs (on its default
SQLite store), and real clients see each change within 2 seconds without a restart: pusher-js
and raw WebSockets for connections, the official Python and Node SDKs for API calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

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
from tests.support.pusher_js import PusherJsDriver
from tests.support.raw_client import RawClient
from tests.support.server import AppSpec, TidingsServer

APP_NOT_FOUND, APP_DISABLED, OVER_CONNECTION_QUOTA = 4001, 4003, 4004


@pytest.fixture(scope="module")
def server() -> Iterator[TidingsServer]:
    """One running server; each story adds apps of its own. The config's app stays as it is.
    One process even in the suite's 2-worker pass: a check that passed on one worker says
    nothing of the other, and tests/cluster/test_cluster_apps.py follows a change across nodes."""
    with TidingsServer([AppSpec()], {"workers": 1}) as running:
        yield running


async def accepted(server: TidingsServer, key: str) -> bool:
    return await connect_outcome(server, key) == 0


async def test_an_app_added_while_tidings_runs_takes_connections_and_api_calls(
    server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    assert await connect_outcome(server, "not-added-yet") == APP_NOT_FOUND
    app = added(server, "enable_client_events=true")  # id, key and secret generated

    await soon(lambda: accepted(server, app.key), "the new app's key is accepted")
    driver = pusher_js(server, app=app)
    reader = await asyncio.to_thread(driver.client, "reader")
    await asyncio.to_thread(reader.subscribe, "private-orders")  # signed by the Node SDK
    await asyncio.to_thread(sdk(server, app).trigger, "private-orders", "new", {"n": 1})
    event = await asyncio.to_thread(reader.wait_for, "private-orders", "new")
    assert event.data == {"n": 1}
    assert app.secret not in apps_of(server, "list")


async def test_a_disabled_app_is_closed_refused_and_forbidden_until_enabled(
    server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    app = added(server)
    await soon(lambda: accepted(server, app.key), "the new app's key is accepted")
    driver = pusher_js(server, app=app)
    open_client = await asyncio.to_thread(driver.client, "open-before")
    before = driver.mark()

    apps_of(server, "disable", app.id)

    await asyncio.to_thread(open_client.wait_error, APP_DISABLED, PROPAGATION, before)
    assert await connect_outcome(server, app.key) == APP_DISABLED
    assert await trigger_status(server, app) == 403

    apps_of(server, "enable", app.id)
    await soon(lambda: accepted(server, app.key), "the enabled app's key is accepted again")
    assert await trigger_status(server, app) == 200


async def test_a_rotated_secret_stops_the_old_signatures_at_once(server: TidingsServer) -> None:
    app = added(server, "--secret", "the-old-secret")
    await soon(lambda: accepted(server, app.key), "the new app's key is accepted")
    assert await trigger_status(server, app) == 200
    async with await RawClient.connect(server, app.key) as open_client:
        new_secret = printed(apps_of(server, "rotate-secret", app.id), "secret")
        assert new_secret != "the-old-secret"

        async def old_refused() -> bool:
            return await trigger_status(server, app) == 401

        await soon(old_refused, "the old secret's signature is refused")
        assert await trigger_status(server, app, new_secret) == 200
        # A connection opened before the rotation: its next subscription needs the new secret.
        await open_client.subscribe("private-a", sdk(server, app), wait=False)
        refused = await open_client.expect("pusher:subscription_error", "private-a")
        assert refused["data"]["status"] == 401
        await open_client.subscribe("private-b", sdk(server, app, new_secret))


async def test_a_removed_app_is_unknown_to_sockets_and_the_api(server: TidingsServer) -> None:
    app = added(server)
    await soon(lambda: accepted(server, app.key), "the new app's key is accepted")
    async with await RawClient.connect(server, app.key) as open_client:
        assert "Removed" in apps_of(server, "remove", app.id)
        async with asyncio.timeout(PROPAGATION):
            assert await open_client.close_code(PROPAGATION) == APP_NOT_FOUND
    assert await connect_outcome(server, app.key) == APP_NOT_FOUND
    assert await trigger_status(server, app) == 404


async def test_a_limit_changed_with_set_holds_from_the_next_request(
    server: TidingsServer,
) -> None:
    app = added(server, "max_event_payload_in_kb=4")
    await soon(lambda: accepted(server, app.key), "the new app's key is accepted")
    two_kib = {"text": "x" * 2048}
    assert await trigger_status(server, app, data=two_kib) == 200

    apps_of(server, "set", app.id, "max_event_payload_in_kb=1", "max_connections=1")

    async def too_large() -> bool:
        return await trigger_status(server, app, data=two_kib) == 413

    await soon(too_large, "a 2 KiB event is refused once the limit is 1 KiB")
    async with await RawClient.connect(server, app.key):
        assert await connect_outcome(server, app.key) == OVER_CONNECTION_QUOTA

    apps_of(server, "set", app.id, "max_event_payload_in_kb=")  # back to the default, 10

    async def accepted_again() -> bool:
        return await trigger_status(server, app, data=two_kib) == 200

    await soon(accepted_again, "the default limit is back")


async def test_the_config_files_app_is_left_alone(server: TidingsServer) -> None:
    listed = apps_of(server, "list")
    assert "4242" in listed and "config" in listed
    assert await trigger_status(server, server.app) == 200
