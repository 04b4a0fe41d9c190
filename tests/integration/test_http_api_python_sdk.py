"""A Python backend uses the official ``pusher`` SDK against tidings exactly as against Pusher.

Subscribers are raw protocol clients whose channel and user auth comes from the same SDK, so every
signature the server checks was made by code nobody here wrote.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pusher
import pytest
from pusher.http import POST, Request

from tests.support.raw_client import Closed, RawClient, eventually, sdk_for
from tests.support.server import TidingsServer

call = asyncio.to_thread  # the SDK blocks; keep the event loop reading frames meanwhile


@pytest.fixture(scope="module")
def sdk(shared_server: TidingsServer) -> pusher.Pusher:
    return sdk_for(shared_server)


def trigger_with_info(sdk: pusher.Pusher, channels: list[str], info: str) -> Any:
    """``trigger`` with the documented ``info`` parameter, which SDK 3.3 does not expose: build
    the request with the SDK's own signing and send it with its own HTTP backend."""
    client = sdk._pusher_client
    body = {"name": "counted", "channels": channels, "data": "{}", "info": info}
    request = Request(client, POST, f"/apps/{client.app_id}/events", body)
    return client.http.send_request(request)


async def test_trigger_reaches_subscribers_on_one_or_many_channels(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    async with (
        await RawClient.connect(shared_server) as reader,
        await RawClient.connect(shared_server) as other,
    ):
        await reader.subscribe("py-news")
        await other.subscribe("py-sport")

        assert await call(sdk.trigger, "py-news", "headline", {"title": "Hi"}) == {}
        frame = await reader.expect("headline", "py-news")
        assert json.loads(frame["data"]) == {"title": "Hi"}

        await call(sdk.trigger, ["py-news", "py-sport"], "everywhere", "plain text")
        assert (await reader.expect("everywhere"))["data"] == "plain text"
        assert (await other.expect("everywhere"))["channel"] == "py-sport"


async def test_trigger_skips_the_excluded_socket(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    async with (
        await RawClient.connect(shared_server) as author,
        await RawClient.connect(shared_server) as reader,
    ):
        for client in (author, reader):
            await client.subscribe("py-echo")
        await call(sdk.trigger, "py-echo", "mine", "1", author.socket_id)
        await call(sdk.trigger, "py-echo", "after", "2")
        assert (await reader.expect("mine"))["data"] == "1"
        # The author sees the next event first: the excluded one never came.
        assert (await author.next_event())["event"] == "after"


async def test_trigger_info_and_batch_info_report_counts(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    async with (
        await RawClient.connect(shared_server) as ada,
        await RawClient.connect(shared_server) as ada_again,
        await RawClient.connect(shared_server) as bob,
    ):
        room = "presence-py-room"
        await ada.subscribe(room, sdk, {"user_id": "ada", "user_info": {"name": "Ada"}})
        await ada_again.subscribe(room, sdk, {"user_id": "ada", "user_info": {"name": "Ada"}})
        await bob.subscribe(room, sdk, {"user_id": "bob"})
        await ada.subscribe("py-counted")

        answer = await call(
            trigger_with_info, sdk, [room, "py-counted"], "user_count,subscription_count"
        )
        assert answer == {
            "channels": {
                room: {"user_count": 2, "subscription_count": 3},
                "py-counted": {"subscription_count": 1},
            }
        }

        batch = [
            {
                "channel": "py-counted",
                "name": "one",
                "data": {"n": 1},
                "info": "subscription_count",
            },
            {"channel": room, "name": "two", "data": "2", "info": "user_count"},
            {"channel": "py-empty", "name": "three", "data": "3"},
        ]
        answer = await call(sdk.trigger_batch, batch)
        assert answer == {"batch": [{"subscription_count": 1}, {"user_count": 2}, {}]}
        assert json.loads((await ada.expect("one"))["data"]) == {"n": 1}
        assert (await bob.expect("two"))["data"] == "2"

        assert await call(sdk.trigger_batch, [{"channel": "py-x", "name": "a", "data": "1"}]) == {}


async def test_channel_queries_describe_occupied_channels(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    async with (
        await RawClient.connect(shared_server) as ada,
        await RawClient.connect(shared_server) as bob,
    ):
        lobby = "presence-py-lobby"
        await ada.subscribe(lobby, sdk, {"user_id": "ada", "user_info": {"name": "Ada"}})
        await bob.subscribe(lobby, sdk, {"user_id": "bob", "user_info": {"name": "Bob"}})
        await ada.subscribe("private-py-orders", sdk)
        await bob.subscribe("py-public-q")

        everything = await call(sdk.channels_info)
        assert {lobby, "private-py-orders", "py-public-q"} <= set(everything["channels"])
        assert everything["channels"]["py-public-q"] == {}

        presence = await call(sdk.channels_info, "presence-py-", ["user_count"])
        assert presence == {"channels": {lobby: {"user_count": 2}}}

        lobby_info = await call(sdk.channel_info, lobby, ["user_count"])
        assert lobby_info == {"occupied": True, "user_count": 2}
        orders = await call(sdk.channel_info, "private-py-orders", ["subscription_count"])
        assert orders == {"occupied": True, "subscription_count": 1}
        assert await call(sdk.channel_info, "py-nobody-here") == {"occupied": False}

        users = await call(sdk.users_info, lobby)
        assert sorted(user["id"] for user in users["users"]) == ["ada", "bob"]

    await eventually(lambda: call(sdk.channel_info, "private-py-orders"), {"occupied": False})
    await eventually(lambda: call(sdk.channels_info, "presence-py-lobby"), {"channels": {}})


async def test_cache_channel_info_returns_the_last_event(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    assert await call(sdk.channel_info, "cache-py-price", ["cache"]) == {
        "occupied": False,
        "cache": None,
    }
    await call(sdk.trigger, "cache-py-price", "price", {"eur": 12})
    info = await call(sdk.channel_info, "cache-py-price", ["cache"])
    assert info["occupied"] is False
    assert json.loads(info["cache"]["data"]) == {"eur": 12}
    assert 0 < info["cache"]["ttl"] <= 1800

    async with await RawClient.connect(shared_server) as late:
        await late.subscribe("cache-py-price")
        assert json.loads((await late.expect("price"))["data"]) == {"eur": 12}


async def test_sdk_channel_auth_is_accepted_and_a_wrong_secret_is_not(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    impostor = sdk_for(shared_server, secret="not-the-secret")
    async with await RawClient.connect(shared_server) as client:
        succeeded = await client.subscribe("private-py-vault", sdk)
        assert succeeded["data"] == "{}"
        presence = await client.subscribe("presence-py-auth", sdk, {"user_id": 7})
        assert json.loads(presence["data"])["presence"]["ids"] == ["7"]

        await client.subscribe("private-py-other", impostor, wait=False)
        error = await client.expect("pusher:subscription_error", "private-py-other")
        assert error["data"]["status"] == 401
        assert error["data"]["type"] == "AuthError"
        assert await call(sdk.channel_info, "private-py-other") == {"occupied": False}


async def test_signed_in_user_gets_send_to_user_and_is_terminated(
    shared_server: TidingsServer, sdk: pusher.Pusher
) -> None:
    async with (
        await RawClient.connect(shared_server) as laptop,
        await RawClient.connect(shared_server) as bystander,
    ):
        signin = sdk.authenticate_user(laptop.socket_id, {"id": "py-user-1", "name": "Ada"})
        await laptop.send("pusher:signin", signin)
        success = await laptop.expect("pusher:signin_success")
        assert success["data"]["user_data"] == signin["user_data"]
        await bystander.subscribe("py-bystander")

        await call(sdk.send_to_user, "py-user-1", "direct", {"hello": "you"})
        direct = await laptop.expect("direct")
        assert direct["channel"] == "#server-to-user-py-user-1"
        assert json.loads(direct["data"]) == {"hello": "you"}

        # SDK 3.3 posts to /users/{id}/terminate_connections, without /apps/{id}.
        assert await call(sdk.terminate_user_connections, "py-user-1") == {}
        error = await laptop.expect("pusher:error")
        assert error["data"]["code"] == 4009
        with pytest.raises(Closed) as closed:
            await laptop.recv()
        assert closed.value.code == 4009

        await call(sdk.trigger, "py-bystander", "still-here", "1")
        assert (await bystander.expect("still-here"))["data"] == "1"


async def test_wrong_secret_is_a_real_401_for_the_sdk(shared_server: TidingsServer) -> None:
    impostor = sdk_for(shared_server, secret="not-the-secret")
    with pytest.raises(pusher.errors.PusherBadAuth, match="Invalid signature"):
        await call(impostor.trigger, "py-news", "forged", "1")
    with pytest.raises(pusher.errors.PusherBadAuth):
        await call(impostor.channels_info)
