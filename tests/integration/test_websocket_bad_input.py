"""Whatever a WebSocket client sends, the server answers with a protocol error or a proper close
code and goes on serving everybody else (soketi crashes on a subscribe without a channel).

Nothing is ever closed with a 43xx code: pusher-js treats those as final.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from tests.support.raw_client import RawClient, assert_round_trip, sdk_for
from tests.support.server import AppSpec, TidingsServer

DISABLED = AppSpec(
    id="6001", key="disabled-key", secret="disabled-secret", settings={"enabled": False}
)
SMALL = AppSpec(id="6002", key="small-key", secret="small-secret", settings={"max_connections": 2})


@pytest.fixture(scope="module")
def server() -> Iterator[TidingsServer]:
    with TidingsServer([AppSpec(), DISABLED, SMALL]) as running:
        yield running


async def assert_still_open(client: RawClient) -> None:
    await client.send("pusher:ping")
    await client.expect("pusher:pong")


# Frames that earn a pusher:error (without a code: nothing for pusher-js to act on) and no close.
MALFORMED = {
    "invalid JSON": "{not json",
    "truncated JSON": '{"event": "pusher:subscribe", "data": {"chan',
    "JSON array": "[1, 2, 3]",
    "JSON string": '"pusher:subscribe"',
    "JSON number": "42",
    "JSON null": "null",
    "missing event": '{"data": {"channel": "news"}}',
    "empty event": '{"event": "", "data": {}}',
    "event not a string": '{"event": 7, "data": {}}',
    "channel not a string": '{"event": "client-x", "channel": 5, "data": {}}',
    "subscribe without data": '{"event": "pusher:subscribe"}',
    "subscribe without channel": '{"event": "pusher:subscribe", "data": {}}',
    "subscribe with numeric channel": '{"event": "pusher:subscribe", "data": {"channel": 5}}',
    "subscribe with data not an object": '{"event": "pusher:subscribe", "data": 5}',
    "subscribe with data not JSON": '{"event": "pusher:subscribe", "data": "{channel"}',
    "unsubscribe with data list": '{"event": "pusher:unsubscribe", "data": []}',
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
async def test_malformed_frame_gets_an_error_and_the_socket_stays(
    server: TidingsServer, case: str
) -> None:
    async with await RawClient.connect(server) as client:
        await client.ws.send_str(MALFORMED[case])
        error = await client.expect("pusher:error")
        assert error["data"]["code"] is None
        assert error["data"]["message"]
        await assert_still_open(client)
    await assert_round_trip(server)


async def test_binary_frame_is_refused_with_an_error(server: TidingsServer) -> None:
    async with await RawClient.connect(server) as client:
        await client.ws.send_bytes(b'{"event":"pusher:subscribe","data":{"channel":"news"}}')
        error = await client.expect("pusher:error")
        assert "Binary" in error["data"]["message"]
        await assert_still_open(client)
    await assert_round_trip(server)


async def test_unknown_events_are_ignored(server: TidingsServer) -> None:
    async with await RawClient.connect(server) as client:
        await client.send("pusher:teleport", {"to": "mars"})
        await client.send("totally-custom", "x", channel="news")
        await client.send("pusher:ping")
        assert (await client.recv())["event"] == "pusher:pong"


async def test_frame_over_max_frame_bytes_closes_with_1009(server: TidingsServer) -> None:
    async with await RawClient.connect(server) as client:
        huge = json.dumps({"event": "client-big", "channel": "x", "data": "x" * 300_000})
        await client.ws.send_str(huge)
        assert await client.close_code() == 1009
    await assert_round_trip(server)


BAD_CHANNELS = ["", "has space", "emoji-\u2603", "c" * 201, "#server-to-user-", "star*"]


@pytest.mark.parametrize(
    "channel", BAD_CHANNELS, ids=["empty", "space", "emoji", "long", "s2u", "*"]
)
async def test_invalid_channel_name_is_a_subscription_error(
    server: TidingsServer, channel: str
) -> None:
    async with await RawClient.connect(server) as client:
        await client.subscribe(channel, wait=False)
        error = await client.expect("pusher:subscription_error")
        assert error["channel"] == channel
        assert error["data"]["type"] == "InvalidChannel"
        await assert_still_open(client)
    await assert_round_trip(server)


async def test_bad_channel_auth_is_a_subscription_error(server: TidingsServer) -> None:
    sdk = sdk_for(server)
    async with await RawClient.connect(server) as client:
        attempts = {
            "private-no-auth": {"channel": "private-no-auth"},
            "private-bad-sig": {"channel": "private-bad-sig", "auth": "test-key:" + "0" * 64},
            "private-not-a-string": {"channel": "private-not-a-string", "auth": 12},
            # Signed for another socket: replaying someone else's token must fail.
            "private-stolen": {
                "channel": "private-stolen",
                **sdk.authenticate("private-stolen", "1.1"),
            },
        }
        for channel, data in attempts.items():
            await client.send("pusher:subscribe", data)
            error = await client.expect("pusher:subscription_error", channel)
            assert error["data"]["status"] == 401, error
            assert error["data"]["type"] == "AuthError"
        # Correctly signed but no usable member: refused as bad data, not crashed.
        members = {"presence-no-member": None, "presence-bad-member": {"user": "none"}}
        for channel, member in members.items():
            signed = sdk.authenticate(channel, client.socket_id, member)
            await client.send("pusher:subscribe", {"channel": channel, **signed})
            error = await client.expect("pusher:subscription_error", channel)
            assert error["data"]["status"] == 400
            assert error["data"]["type"] == "InvalidChannelData"
        await assert_still_open(client)
    await assert_round_trip(server)


async def test_bad_signin_and_rejected_client_events_never_close(server: TidingsServer) -> None:
    async with await RawClient.connect(server) as client:
        await client.send("pusher:signin", {"user_data": '{"id":"x"}', "auth": "test-key:00"})
        assert (await client.expect("pusher:error"))["data"]["code"] == 4009
        await client.subscribe("private-chat", sdk_for(server))
        # Client events are off for this app: a 4301 error frame, never a 4301 close.
        await client.send("client-typing", {"on": True}, channel="private-chat")
        assert (await client.expect("pusher:error"))["data"]["code"] == 4301
        await assert_still_open(client)
    await assert_round_trip(server)


REFUSED = {
    "unknown app key": ("no-such-key", "protocol=7", 4001),
    "protocol too old": ("test-key", "protocol=3", 4007),
    "protocol from the future": ("test-key", "protocol=8", 4007),
    "protocol not a number": ("test-key", "protocol=seven", 4006),
    "disabled app": ("disabled-key", "protocol=7", 4003),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
async def test_refused_handshake_sends_error_then_same_close_code(
    server: TidingsServer, case: str
) -> None:
    key, query, code = REFUSED[case]
    client = await RawClient.connect(server, key, query=query, handshake=False)
    async with client:
        error = await client.recv()
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == code
        assert await client.close_code() == code
    await assert_round_trip(server)


async def test_app_connection_quota_is_4004_and_frees_up(server: TidingsServer) -> None:
    first = await RawClient.connect(server, SMALL.key)
    second = await RawClient.connect(server, SMALL.key)
    async with await RawClient.connect(server, SMALL.key, handshake=False) as third:
        assert (await third.recv())["data"]["code"] == 4004
        assert await third.close_code() == 4004
    await assert_round_trip(server)  # another app is not affected
    await first.close()
    await second.close()
    # The slot is freed once the server has cleaned up (on a cluster, a few Redis round trips).
    deadline = time.monotonic() + 5
    while True:
        async with await RawClient.connect(server, SMALL.key, handshake=False) as again:
            first_frame = await again.recv()
            if first_frame["event"] == "pusher:connection_established":
                break
            assert first_frame["data"]["code"] == 4004
        assert time.monotonic() < deadline, "the quota never freed up"
        await asyncio.sleep(0.05)
