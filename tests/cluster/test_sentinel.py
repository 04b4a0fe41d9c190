"""Two tidings nodes on Redis behind Sentinel (1 master, 1 replica, 3 sentinels): they serve
each other's events, and when the master is SIGKILLed in the middle of a stream of triggers
they follow the promoted replica, every trigger answered 200 reaches every subscriber, the
others were refused with 503, and /ready says so meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pusher.errors
import pytest

from tests.cluster.conftest import call, data, eventually, frames_until, presence_user
from tests.support.pusher_js import PusherJsClient, PusherJsDriver
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import ROOT, AppSpec, TidingsServer

RESUME_WITHIN = 5.0  # seconds from the kill to the first event delivered again


def ticks(browser: PusherJsClient) -> list[int]:
    """The ``n`` of every tick a pusher-js client delivered to its application, in order."""
    return [
        (json.loads(e.data) if isinstance(e.data, str) else e.data)["n"]
        for e in browser.events(None, "tick")
    ]


def ready_status(node: TidingsServer) -> int:
    try:
        with urllib.request.urlopen(f"{node.url}/ready", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TIDINGS_REDIS_SENTINELS": "127.0.0.1:26379"}, "TIDINGS_REDIS_SENTINEL_MASTER"),
        ({"TIDINGS_REDIS_SENTINEL_MASTER": "mymaster"}, "TIDINGS_REDIS_SENTINELS"),
        (
            {"TIDINGS_REDIS_SENTINELS": "127.0.0.1", "TIDINGS_REDIS_SENTINEL_MASTER": "m"},
            "'127.0.0.1' is not host:port",
        ),
        (
            {
                "TIDINGS_REDIS_SENTINELS": "127.0.0.1:26379",
                "TIDINGS_REDIS_SENTINEL_MASTER": "m",
                "TIDINGS_REDIS_URL": "redis://127.0.0.1:6379",
            },
            "not both",
        ),
    ],
)
def test_half_a_sentinel_config_exits_2_saying_what_to_set(
    env: dict[str, str], fragment: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    result = subprocess.run(
        [sys.executable, "-m", "tidings", "serve", "--workers", "2", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        env=clean | env,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tidings: configuration error:")
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


async def test_two_nodes_on_sentinel_serve_each_others_events(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    _, (a, b) = make_sentinel_cluster()
    assert ready_status(a) == ready_status(b) == 200
    async with await RawClient.connect(a) as alice, await RawClient.connect(b) as bob:
        for client in (alice, bob):
            await client.subscribe("news")
        await call(sdk_for(a).trigger, "news", "from-a", {"n": 1})
        await call(sdk_for(b).trigger, "news", "from-b", {"n": 2})
        for client in (alice, bob):
            assert data(await client.expect("from-a")) == {"n": 1}
            assert data(await client.expect("from-b")) == {"n": 2}
        info = await call(sdk_for(b).channel_info, "news", ["subscription_count"])
        assert info["subscription_count"] == 2  # counts shared through the master


async def test_a_crashed_node_holds_the_api_back_for_three_missed_heartbeats(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    """SIGKILL a node: until it missed three heartbeats (3 s) it could as well be alive
    and resubscribing, so triggers get 503; then 200, long before its key expires (8 s)."""
    setup, (a, b) = make_sentinel_cluster(node_timeout=8)
    # As if this master had served longer than node_timeout: the gate then trusts heartbeats
    # (in the first node_timeout of a master, only an expired key says a node is gone).
    with setup.master_client() as client:
        replid = client.info("replication")["master_replid"]
        client.set(f"tidings:master-since:{replid}", 0)
    sdk = sdk_for(a)
    async with await RawClient.connect(a) as alice:
        await alice.subscribe("news")
        b.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert b.process is not None
        await asyncio.to_thread(b.process.wait)  # gone, its sockets closed with it
        refusals: list[str] = []

        def trigger_until_accepted() -> float:
            while True:
                try:
                    sdk.trigger("news", "after", {"refused": len(refusals)})
                    return time.monotonic()
                except pusher.errors.PusherBadStatus as error:
                    refusals.append(str(error))
                threading.Event().wait(0.05)  # a steady pace, not a wait for anything

        accepted_at = await asyncio.to_thread(trigger_until_accepted)
        assert data(await alice.expect("after")) == {"refused": len(refusals)}
    assert refusals and all(error.startswith("503") for error in refusals), refusals
    assert accepted_at - killed_at < 5  # three missed beats, well before the 8 s expiry


@dataclass
class Stream:
    """Triggers ``tick`` n = 0, 1, 2... in turn through each node with the official SDK, as
    an app server would; notes which ones were answered 200 and which were refused."""

    nodes: list[TidingsServer]
    channel: str
    accepted: dict[int, float] = field(default_factory=dict)  # n -> when it was answered
    refused: dict[int, str] = field(default_factory=dict)  # n -> the SDK's error
    unanswered: dict[int, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sdks = [sdk_for(node) for node in self.nodes]
        n = 0
        while not self.stop.is_set():
            try:
                sdks[n % len(sdks)].trigger(self.channel, "tick", {"n": n})
                self.accepted[n] = time.monotonic()
            except pusher.errors.PusherBadStatus as error:
                self.refused[n] = str(error)
            except Exception as error:  # a timeout, a dropped connection: no answer at all
                self.unanswered[n] = repr(error)
            n += 1
            self.stop.wait(0.01)  # a steady pace, not a wait for anything

    def accepted_after(self, moment: float) -> int:
        return sum(1 for at in list(self.accepted.values()) if at > moment)


@dataclass
class Listener:
    client: RawClient
    got: list[int] = field(default_factory=list)
    at: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            frame = await self.client.next_event(timeout=60)
            if frame["event"] == "tick":
                self.got.append(data(frame)["n"])
                self.at.append(time.monotonic())


@dataclass
class Probe:
    """/ready of each node, sampled every few milliseconds: (when, node, status)."""

    nodes: list[TidingsServer]
    seen: list[tuple[float, int, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            for index, node in enumerate(self.nodes):
                self.seen.append((time.monotonic(), index, ready_status(node)))


async def test_a_killed_master_loses_no_event_answered_200(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    setup, nodes = make_sentinel_cluster()
    await the_master_moves_during_a_stream(nodes, setup.kill_master, killed=True, pusher_js=True)


async def test_a_killed_master_loses_nothing_on_a_history_channel(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    """A channel with history is published by its own script, not gated: a node that was not
    subscribed on the new master yet reads what it missed from the stream instead."""
    app = AppSpec(settings={"history": [{"channels": "kept-*", "max_events": 1000}]})
    setup, nodes = make_sentinel_cluster(app=app)
    await the_master_moves_during_a_stream(
        nodes, setup.kill_master, killed=True, channel="kept-stream"
    )


async def test_a_killed_master_with_two_workers_per_node(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    setup, nodes = make_sentinel_cluster(count=1, workers=2)
    await the_master_moves_during_a_stream(nodes + nodes, setup.kill_master, killed=True)


async def test_a_manual_failover_moves_both_nodes_and_keeps_presence(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    """SENTINEL FAILOVER: the old master lives on, demoted to a replica, and the nodes'
    subscriptions on it must move to the new master too."""
    setup, nodes = make_sentinel_cluster()
    sdk = sdk_for(nodes[0])
    alice, bob = [await RawClient.connect(node) for node in nodes]
    try:
        await alice.subscribe("presence-room", sdk, presence_user("alice"))
        await bob.subscribe("presence-room", sdk, presence_user("bob"))
        await alice.expect("pusher_internal:member_added")
        old = setup.master_port()
        await the_master_moves_during_a_stream(nodes, setup.fail_over, killed=False)
        assert setup.master_port() != old

        users = await call(sdk.users_info, "presence-room")
        assert sorted(user["id"] for user in users["users"]) == ["alice", "bob"]
        await call(sdk_for(nodes[1]).trigger, "presence-room", "checkpoint", {})
        for member in (alice, bob):
            seen = [frame["event"] for frame in await frames_until(member, "checkpoint")]
            # Re-registering on the new master changed nothing anyone could see.
            assert "pusher_internal:member_removed" not in seen, seen
            assert "pusher_internal:member_added" not in seen, seen
    finally:
        await alice.close()
        await bob.close()


async def test_subscriptions_killed_on_the_master_lose_no_event_answered_200(
    make_sentinel_cluster: Callable[..., Any],
) -> None:
    """CLIENT KILL TYPE pubsub: each node resubscribes; meanwhile the API refuses (503) what
    that node would miss, instead of answering 200."""
    setup, nodes = make_sentinel_cluster()
    await the_master_moves_during_a_stream(nodes, setup.kill_subscriptions, killed=False)


async def the_master_moves_during_a_stream(
    nodes: list[TidingsServer],
    move: Callable[[], object],
    killed: bool,
    pusher_js: bool = False,
    channel: str = "stream",
) -> None:
    """Listeners on every node, a stream of triggers through every node, then ``move`` the
    master: every trigger answered 200 reaches every listener, once; the others were 503."""
    stream, probe = Stream(nodes, channel), Probe(nodes)
    async with contextlib.AsyncExitStack() as stack:
        # Two listeners per node (per port: with --workers 2 the kernel picks the worker),
        # and with ``pusher_js`` a pusher-js client on each node too.
        listeners = [
            Listener(await stack.enter_async_context(await RawClient.connect(node)))
            for node in nodes
            for _ in range(2)
        ]
        drivers = [stack.enter_context(PusherJsDriver(node)) for node in nodes if pusher_js]
        browsers = [driver.client() for driver in drivers]
        for browser in browsers:
            await asyncio.to_thread(browser.subscribe, channel)
        for listener in listeners:
            await listener.client.subscribe(channel)
            reader = asyncio.create_task(listener.run())
            stack.callback(reader.cancel)
        threads = []
        for worker in (stream, probe):
            threads.append(threading.Thread(target=worker.run, daemon=True))
            threads[-1].start()
            stack.push_async_callback(asyncio.to_thread, threads[-1].join)
            stack.callback(worker.stop.set)

        await eventually(lambda: all(len(listener.got) >= 20 for listener in listeners), 15)
        moved_at = time.monotonic()
        await asyncio.to_thread(move)
        await eventually(lambda: stream.accepted_after(moved_at) >= 30, 20)
        stream.stop.set()
        await asyncio.to_thread(threads[0].join)
        accepted = set(stream.accepted)

        def everyone_got_everything() -> bool:
            return all(accepted <= set(lis.got) for lis in listeners) and all(
                accepted <= set(ticks(browser)) for browser in browsers
            )

        with contextlib.suppress(TimeoutError):  # the asserts below say what is missing
            await eventually(everyone_got_everything, 10)
        # Ready again: every worker behind each port (the kernel picks one per request), and
        # the probe has sampled that too.
        await eventually(lambda: all(ready_status(n) == 200 for n in nodes for _ in range(8)), 10)
        sampled = len(probe.seen)
        await eventually(lambda: len(probe.seen) >= sampled + 2 * len(nodes))
        got_js = [ticks(browser) for browser in browsers]

    refused = set(stream.refused)
    assert all(error.startswith("503") for error in stream.refused.values()), stream.refused
    assert not stream.unanswered, "every trigger gets an answer, 200 or 503"
    before = max(n for n, at in stream.accepted.items() if at <= moved_at)
    for listener in listeners:
        assert len(listener.got) == len(set(listener.got)), "an event was delivered twice"
        assert accepted <= set(listener.got), f"lost {sorted(accepted - set(listener.got))}"
        assert set(listener.got) <= accepted | refused
        resumed = next(t for n, t in zip(listener.got, listener.at, strict=True) if n > before)
        assert resumed - moved_at < RESUME_WITHIN
    for got in got_js:  # pusher-js: the same, but for the time of each delivery
        assert len(got) == len(set(got)), "pusher-js got an event twice"
        assert accepted <= set(got), f"pusher-js lost {sorted(accepted - set(got))}"
        assert set(got) <= accepted | refused
    if killed:  # a dead master takes a while to be declared dead: a window there must be
        assert refused, "the kill should have refused some triggers; did the failover happen?"
    for index in range(len(nodes)):
        statuses = [status for at, node, status in probe.seen if node == index and at > moved_at]
        assert not killed or 503 in statuses, f"node {index} never said it was not ready"
        assert statuses[-1] == 200
