"""A backend fetching a history channel's events over the signed HTTP API, as Pusher's FAQ
suggests doing after ``pusher:subscription_succeeded``, with the official SDKs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pytest
from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus
from pusher.http import GET, Request

from tests.support.pusher_js import PusherJsDriver, unique
from tests.support.raw_client import sdk_for
from tests.support.server import AppSpec, TidingsServer

HISTORY = [{"channels": "agent-*", "max_events": 5, "ttl": 3600}]


@pytest.fixture(scope="module")
def server() -> Iterator[TidingsServer]:
    with TidingsServer([AppSpec(settings={"history": HISTORY})]) as started:
        yield started


@pytest.fixture(scope="module")
def sdk(server: TidingsServer) -> pusher.Pusher:
    return sdk_for(server)


def history(sdk: pusher.Pusher, channel: str, **params: Any) -> Any:
    """GET .../channels/{channel}/events, signed by the Python SDK and sent by its backend."""
    client = sdk._pusher_client
    path = f"/apps/{client.app_id}/channels/{channel}/events"
    request = Request(client, GET, path, {k: str(v) for k, v in params.items()})
    return client.http.send_request(request)


def serials(page: dict[str, Any]) -> list[int]:
    return [event["serial"] for event in page["events"]]


def test_a_backend_pages_through_the_history_after_a_serial(sdk: pusher.Pusher) -> None:
    channel = unique("agent")
    for n in range(1, 5):
        sdk.trigger(channel, "agent-message", {"n": n})

    first = history(sdk, channel, after=0, limit=2)
    rest = history(sdk, channel, after=serials(first)[-1], limit=2)
    caught_up = history(sdk, channel, after=4)

    assert serials(first) == [1, 2] and serials(rest) == [3, 4]
    assert first["events"][0] == {"serial": 1, "event": "agent-message", "data": '{"n": 1}'}
    assert first["complete"] and rest["complete"] and first["last"] == 4
    assert first["epoch"] == rest["epoch"] == caught_up["epoch"]
    assert caught_up["events"] == [] and caught_up["complete"]


def test_what_is_no_longer_kept_makes_the_page_incomplete(sdk: pusher.Pusher) -> None:
    channel = unique("agent")
    for n in range(1, 9):  # max_events is 5
        sdk.trigger(channel, "agent-message", {"n": n})
    page = history(sdk, channel, limit=100)  # asking for more than max_events gets max_events
    assert serials(page) == [4, 5, 6, 7, 8]
    assert page["complete"] is False
    assert history(sdk, channel, after=3)["complete"] is True


def test_a_channel_never_written_to_has_an_empty_history(sdk: pusher.Pusher) -> None:
    page = history(sdk, unique("agent"))
    assert (page["events"], page["last"], page["complete"]) == ([], 0, True)


def test_bad_requests_are_refused_saying_why(sdk: pusher.Pusher) -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"channel": unique("news")}, PusherBadStatus, "keeps no history"),
        ({"channel": unique("agent"), "after": "-1"}, PusherBadRequest, "'after' must be"),
        ({"channel": unique("agent"), "limit": "0"}, PusherBadRequest, "'limit' must be"),
    ]
    for fields, error, fragment in cases:
        channel = fields.pop("channel")
        with pytest.raises(error) as refused:
            history(sdk, channel, **fields)
        assert fragment in str(refused.value), fields


def test_the_history_is_signed_like_every_api_call(server: TidingsServer) -> None:
    wrong = sdk_for(server, secret="not-the-secret")
    with pytest.raises(PusherBadAuth):
        history(wrong, unique("agent"))
    url = f"{server.url}/apps/{server.app.id}/channels/{unique('agent')}/events"
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(url, timeout=5)
    assert unsigned.value.code == 401


def test_the_node_sdk_reads_the_history_with_its_get(
    server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(server)
    channel = unique("agent")
    assert driver.node_sdk("trigger", channel, "agent-message", {"n": 1}).status == 200
    response = driver.node_sdk("get", f"/channels/{channel}/events", {"after": "0"})
    assert response.status == 200
    page = json.loads(response.body)
    assert serials(page) == [1] and json.loads(page["events"][0]["data"]) == {"n": 1}


def test_tidings_serves_its_pusher_js_add_on(server: TidingsServer) -> None:
    for name, marker in [
        ("tidings-recovery.js", b"TidingsRecovery"),
        ("tidings-recovery.mjs", b"export"),
    ]:
        with urllib.request.urlopen(f"{server.url}/js/{name}", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert marker in response.read()
