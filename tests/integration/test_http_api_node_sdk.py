"""A Node backend uses the official ``pusher`` SDK (5.x) against tidings.

The SDK runs in a real ``node`` process (``tests/support/node_sdk.js``); subscribers are raw
protocol clients, some signed with the Node SDK's own channel and user auth.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import pytest

from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import ROOT, TidingsServer

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

NODE_SDK = ROOT / "tests" / "support" / "node_sdk.js"


def call(method: str, *args: Any) -> dict[str, Any]:
    return {"method": method, "args": list(args)}


async def node_sdk(
    server: TidingsServer, *calls: dict[str, Any], secret: str | None = None
) -> list[dict[str, Any]]:
    """Run the calls in order through the Node SDK; one result per call."""
    app = server.app
    command = {
        "host": server.host,
        "port": server.port,
        "appId": app.id,
        "key": app.key,
        "secret": secret or app.secret,
        "calls": list(calls),
    }
    process = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_SDK),
        json.dumps(command),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    results: list[dict[str, Any]] = json.loads(out)
    return results


def ok(result: dict[str, Any]) -> Any:
    assert result.get("status") == 200, result
    return result["body"]


async def test_trigger_and_batch_reach_subscribers_and_report_counts(
    shared_server: TidingsServer,
) -> None:
    python_sdk = sdk_for(shared_server)
    async with (
        await RawClient.connect(shared_server) as ada,
        await RawClient.connect(shared_server) as bob,
    ):
        await ada.subscribe("node-news")
        await bob.subscribe("node-news")
        await bob.subscribe("presence-node-room", python_sdk, {"user_id": "bob"})

        single, multi, excluded, batch = await node_sdk(
            shared_server,
            call("trigger", "node-news", "headline", {"title": "Hi"}),
            call(
                "trigger",
                ["node-news", "presence-node-room"],
                "everywhere",
                "text",
                {"info": "subscription_count,user_count"},
            ),
            call("trigger", "node-news", "not-for-ada", "x", {"socket_id": ada.socket_id}),
            call(
                "triggerBatch",
                [
                    {"channel": "node-news", "name": "b1", "data": "1"},
                    {
                        "channel": "presence-node-room",
                        "name": "b2",
                        "data": {"n": 2},
                        "info": "user_count",
                    },
                ],
            ),
        )
        assert ok(single) == {}
        assert ok(multi) == {
            "channels": {
                "node-news": {"subscription_count": 2},
                "presence-node-room": {"subscription_count": 1, "user_count": 1},
            }
        }
        assert ok(excluded) == {}
        assert ok(batch) == {"batch": [{}, {"user_count": 1}]}

        ada_events = [(await ada.next_event())["event"] for _ in range(3)]
        assert ada_events == ["headline", "everywhere", "b1"]
        assert json.loads((await bob.expect("headline"))["data"]) == {"title": "Hi"}
        assert (await bob.expect("everywhere", "presence-node-room"))["data"] == "text"
        assert (await bob.expect("not-for-ada"))["data"] == "x"
        assert json.loads((await bob.expect("b2"))["data"]) == {"n": 2}


async def test_get_channels_channel_and_users(shared_server: TidingsServer) -> None:
    async with (
        await RawClient.connect(shared_server) as ada,
        await RawClient.connect(shared_server) as bob,
    ):
        # The Node SDK signs these subscriptions (compact JSON channel_data, unlike Python's).
        auth_ada, auth_bob, auth_private = await node_sdk(
            shared_server,
            call("authorizeChannel", ada.socket_id, "presence-node-q", {"user_id": "ada"}),
            call("authorizeChannel", bob.socket_id, "presence-node-q", {"user_id": "bob"}),
            call("authorizeChannel", ada.socket_id, "private-node-q"),
        )
        for client, auth in ((ada, auth_ada), (bob, auth_bob)):
            await client.send("pusher:subscribe", {"channel": "presence-node-q", **auth["value"]})
            await client.expect("pusher_internal:subscription_succeeded", "presence-node-q")
        await ada.send("pusher:subscribe", {"channel": "private-node-q", **auth_private["value"]})
        await ada.expect("pusher_internal:subscription_succeeded", "private-node-q")

        listing, presence, one, users = await node_sdk(
            shared_server,
            call("get", {"path": "/channels"}),
            call(
                "get",
                {
                    "path": "/channels",
                    "params": {"filter_by_prefix": "presence-", "info": "user_count"},
                },
            ),
            call(
                "get",
                {"path": "/channels/private-node-q", "params": {"info": "subscription_count"}},
            ),
            call("get", {"path": "/channels/presence-node-q/users"}),
        )
        assert {"presence-node-q", "private-node-q"} <= set(ok(listing)["channels"])
        assert ok(presence)["channels"]["presence-node-q"] == {"user_count": 2}
        assert ok(one) == {"occupied": True, "subscription_count": 1}
        assert sorted(u["id"] for u in ok(users)["users"]) == ["ada", "bob"]


async def test_send_to_user_and_terminate_user_connections(shared_server: TidingsServer) -> None:
    async with (
        await RawClient.connect(shared_server) as phone,
        await RawClient.connect(shared_server) as laptop,
    ):
        auths = await node_sdk(
            shared_server,
            call("authenticateUser", phone.socket_id, {"id": "node-user", "name": "Ada"}),
            call("authenticateUser", laptop.socket_id, {"id": "node-user", "name": "Ada"}),
        )
        for client, auth in zip((phone, laptop), auths, strict=True):
            await client.send("pusher:signin", auth["value"])
            await client.expect("pusher:signin_success")

        sent, terminated = await node_sdk(
            shared_server,
            call("sendToUser", "node-user", "direct", {"hi": 1}),
            call("terminateUserConnections", "node-user"),
        )
        assert ok(sent) == {}
        assert ok(terminated) == {}
        for client in (phone, laptop):
            direct = await client.expect("direct", "#server-to-user-node-user")
            assert json.loads(direct["data"]) == {"hi": 1}
            assert await client.close_code() == 4009


async def test_wrong_secret_is_a_real_401_not_a_fake_success(
    shared_server: TidingsServer,
) -> None:
    trigger, listing = await node_sdk(
        shared_server,
        call("trigger", "node-news", "forged", "1"),
        call("get", {"path": "/channels"}),
        secret="not-the-secret",
    )
    for result in (trigger, listing):
        assert result["error"]["status"] == 401
        body = json.loads(result["error"]["body"])
        assert body["code"] == 401
        assert "Invalid signature" in body["error"]
