"""Who may open the debug console: a server with an app of its own and no console token has
no console at all (404); with ``console_token`` every console request needs it (401)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.support.metrics import scrape_until
from tests.support.server import AppSpec, TidingsServer

TOKEN = "console-test-token"  # test fixture credential
APP = AppSpec(id="77", key="own-key", secret="own-secret")  # test fixture credential
CONSOLE_PATHS = ("/console", "/console/api/apps")


def get(
    server: TidingsServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(server.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_event(server: TidingsServer, headers: dict[str, str], body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"{server.url}/console/api/apps/{APP.id}/events",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def stream(
    server: TidingsServer, query: str, headers: dict[str, str] | None = None
) -> tuple[int | None, dict[str, Any] | None]:
    """Open /console/stream: its close code, or the first document it sends."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{server.url}/console/stream?{query}", headers=headers) as socket,
    ):
        message = await asyncio.wait_for(socket.receive(), 5)
        if message.type == aiohttp.WSMsgType.TEXT:
            return None, json.loads(message.data)
        return socket.close_code, None


def test_an_own_app_without_a_token_has_no_console(
    make_server: Callable[..., TidingsServer],
) -> None:
    server = make_server([APP])

    for path in CONSOLE_PATHS:
        assert get(server, path)[0] == 404, path
    assert post_event(server, {}, {"channel": "c", "event": "e", "data": "{}"}) == 404
    assert asyncio.run(stream(server, f"app={APP.id}")) == (4404, None)
    assert get(server, "/ready")[0] == 200  # the rest of the server is unaffected


@pytest.mark.parametrize("how", ["config", "environment"])
def test_with_a_token_every_console_request_needs_it(
    make_server: Callable[..., TidingsServer], how: str
) -> None:
    if how == "config":
        server = make_server([APP], {"console_token": TOKEN})
    else:
        server = TidingsServer([APP], env={"TIDINGS_CONSOLE_TOKEN": TOKEN}).start()
    try:
        for path in CONSOLE_PATHS:
            assert get(server, path)[0] == 401, path
            assert get(server, path, {"X-Tidings-Console-Token": "wrong"})[0] == 401, path
            assert get(server, f"{path}?token=wrong")[0] == 401, path
            assert get(server, f"{path}?token={TOKEN[:-1]}")[0] == 401, path
            assert get(server, path, {"X-Tidings-Console-Token": TOKEN})[0] == 200, path
            assert get(server, f"{path}?token={TOKEN}")[0] == 200, path
        event = {"channel": "my-channel", "event": "e", "data": "{}"}
        assert post_event(server, {}, event) == 401
        assert post_event(server, {"X-Tidings-Console-Token": "wrong"}, event) == 401
        assert post_event(server, {"X-Tidings-Console-Token": TOKEN}, event) == 200
        assert asyncio.run(stream(server, f"app={APP.id}")) == (4401, None)
        assert asyncio.run(stream(server, f"app={APP.id}&token=wrong")) == (4401, None)
        _, first = asyncio.run(stream(server, f"app={APP.id}&token={TOKEN}"))
        assert first is not None and first["type"] == "stats"
    finally:
        if how == "environment":
            server.stop()


def test_the_app_list_names_apps_but_never_their_secrets(
    make_server: Callable[..., TidingsServer],
) -> None:
    other = AppSpec(id="78", key="other-key", secret="other-secret")  # test fixture credential
    server = make_server([APP, other], {"console_token": TOKEN})

    status, body = get(server, "/console/api/apps", {"X-Tidings-Console-Token": TOKEN})

    assert status == 200
    assert json.loads(body) == {
        "apps": [{"id": "77", "key": "own-key"}, {"id": "78", "key": "other-key"}]
    }
    _, page = get(server, f"/console?token={TOKEN}")
    for secret in (APP.secret, other.secret):
        assert secret.encode() not in body + page


def test_the_stream_refuses_pages_of_other_sites_and_unknown_apps(
    make_server: Callable[..., TidingsServer],
) -> None:
    server = make_server([APP], {"console_token": TOKEN})
    query = f"app={APP.id}&token={TOKEN}"

    assert asyncio.run(stream(server, query, {"Origin": "http://evil.example"})) == (4403, None)
    assert asyncio.run(stream(server, f"app=nope&token={TOKEN}")) == (4404, None)
    _, first = asyncio.run(stream(server, query, {"Origin": server.url}))
    assert first is not None and first["type"] == "stats"


def test_the_event_creator_takes_json_only(make_server: Callable[..., TidingsServer]) -> None:
    server = make_server([APP], {"console_token": TOKEN})
    request = urllib.request.Request(
        f"{server.url}/console/api/apps/{APP.id}/events",
        data=b"channel=c&event=e&data=x",  # what a form on another site could post
        headers={"X-Tidings-Console-Token": TOKEN},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 415
    headers = {"X-Tidings-Console-Token": TOKEN}
    assert post_event(server, headers, {"channel": "bad name", "event": "e", "data": ""}) == 400
    assert post_event(server, headers, {"channel": "c", "data": ""}) == 400


async def test_events_from_the_creator_count_as_published_through_the_api(
    make_server: Callable[..., TidingsServer],
) -> None:
    server = make_server([APP], {"console_token": TOKEN})
    headers = {"X-Tidings-Console-Token": TOKEN}
    body = {"channel": "news", "event": "hello", "data": "{}"}
    assert await asyncio.to_thread(post_event, server, headers, body) == 200
    published = {"app_id": APP.id, "source": "api"}
    await scrape_until(
        server.url, lambda m: m.value("tidings_events_published_total", **published) == 1
    )
