"""A node dies (SIGKILL) or Redis restarts: the cluster cleans up and keeps delivering."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pusher.errors
import pytest

from tests.cluster.conftest import NODE_TIMEOUT, call, data, eventually, frames_until, presence_user
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import TidingsServer


def ready_status(node: TidingsServer) -> int:
    try:
        with urllib.request.urlopen(f"{node.url}/ready", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_killed_nodes_members_and_counts_are_removed_once_within_the_timeout(
    make_cluster: Callable[..., Any],
) -> None:
    _, (a, b, doomed) = make_cluster()
    sdk = sdk_for(a)
    room = "presence-ops"
    async with await RawClient.connect(a) as alice, await RawClient.connect(b) as bob:
        await alice.subscribe(room, sdk, presence_user("alice"))
        await bob.subscribe(room, sdk, presence_user("bob"))
        victim = await RawClient.connect(doomed)
        await victim.subscribe(room, sdk, presence_user("carol"))
        await victim.subscribe("only-on-the-doomed-node")
        for watcher in (alice, bob):
            await watcher.expect("pusher_internal:member_added")
        assert (await call(sdk.channel_info, room, ["user_count"]))["user_count"] == 3

        doomed.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        for watcher in (alice, bob):
            removed = await watcher.expect(
                "pusher_internal:member_removed", timeout=NODE_TIMEOUT + 5
            )
            assert data(removed) == {"user_id": "carol"}
        assert time.monotonic() - killed_at < NODE_TIMEOUT + 3  # bounded by node_timeout

        users = await call(sdk_for(b).users_info, room)
        assert sorted(user["id"] for user in users["users"]) == ["alice", "bob"]
        info = await call(sdk.channel_info, room, ["user_count", "subscription_count"])
        assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}
        listed = await call(sdk.channels_info)
        assert "only-on-the-doomed-node" not in listed["channels"]
        await call(sdk.trigger, room, "checkpoint", {})
        for watcher in (alice, bob):  # carol left exactly once
            assert await frames_until(watcher, "checkpoint") == []
        await victim.close()


async def test_after_a_redis_restart_nodes_resubscribe_and_deliver_again(
    make_cluster: Callable[..., Any],
) -> None:
    redis, (a, b, c) = make_cluster()
    room = "presence-night-shift"
    async with await RawClient.connect(a) as reader, await RawClient.connect(b) as sitter:
        await reader.subscribe("alerts")
        await reader.subscribe(room, sdk_for(a), presence_user("reader"))
        await sitter.subscribe(room, sdk_for(b), presence_user("sitter"))

        redis.stop()
        await eventually(lambda: ready_status(c) == 503)
        started = time.monotonic()
        with pytest.raises(pusher.errors.PusherError) as refused:
            await call(sdk_for(c).trigger, "alerts", "lost-in-the-dark", {})
        assert "503" in str(refused.value) or "Redis" in str(refused.value)
        assert time.monotonic() - started < 10  # an error, not a hang

        await asyncio.to_thread(redis.start)
        for node in (a, b, c):
            await eventually(lambda node=node: ready_status(node) == 200, timeout=15)
        await call(sdk_for(c).trigger, "alerts", "after-the-restart", {"ok": True})
        frame = await reader.next_event()
        assert (frame["event"], data(frame)) == ("after-the-restart", {"ok": True})

        # Redis lost everything; each node writes its sockets back at its next heartbeat,
        # without re-announcing members that everybody already knows.
        def members() -> list[str]:
            return sorted(user["id"] for user in sdk_for(c).users_info(room)["users"])

        await eventually(lambda: members() == ["reader", "sitter"], timeout=NODE_TIMEOUT)
        await call(sdk_for(c).trigger, room, "checkpoint", {})
        assert await frames_until(sitter, "checkpoint") == []
