"""The history part of the Adapter contract (publish_history, history), on every driver, and
what only a cluster has: one serial order on every node, and no gap after a pub/sub hiccup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
import redis as redis_sync

from tests.support.cut_proxy import CutProxy
from tests.unit.hub import test_contract as contract
from tests.unit.hub.contract_support import Socket, settle, unframe, until
from tests.unit.hub.test_contract import APP, Driver, connect
from tidings.apps.history import HistoryRule
from tidings.config import ServerSettings
from tidings.events import EventBus
from tidings.hub.base import Adapter
from tidings.hub.redis import RedisAdapter
from tidings.protocol import messages

# The contract suite's fixtures: every driver, and two Redis nodes sharing one store.
contract_redis = contract.contract_redis
contract_sentinel = contract.contract_sentinel
store = contract.store
driver = contract.driver
adapter = contract.adapter
redis_driver = contract.redis_driver
two_nodes = contract.two_nodes

RULE = HistoryRule("agent-*", max_events=4, ttl=3600)
CHANNEL = "agent-1"


def event(n: int, channel: str = CHANNEL) -> bytes:
    return messages.event("agent-message", channel, orjson.dumps({"n": n}).decode())


def stamps(sock: Socket, channel: str = CHANNEL) -> list[tuple[int, int, str]]:
    """(n, serial, epoch) of each agent-message the socket got."""
    found = []
    for frame in sock.frames:
        message = orjson.loads(unframe(frame))
        if message["event"] == "agent-message" and message["channel"] == channel:
            found.append((orjson.loads(message["data"])["n"], message["serial"], message["epoch"]))
    return found


async def subscribed(hub: Adapter, channel: str = CHANNEL) -> Socket:
    sock = await connect(hub)
    await hub.subscribe(sock, channel, None)
    return sock


async def test_events_are_stamped_with_increasing_serials_the_same_for_everyone(
    adapter: Adapter,
) -> None:
    one, two = await subscribed(adapter), await subscribed(adapter)
    for n in (1, 2, 3):
        await adapter.publish_history(APP.id, CHANNEL, RULE, event(n))
    await until(lambda: len(stamps(one)) == 3 and len(stamps(two)) == 3)
    assert one.frames == two.frames  # the same bytes
    assert [(n, serial) for n, serial, _ in stamps(one)] == [(1, 1), (2, 2), (3, 3)]
    assert len({epoch for _, _, epoch in stamps(one)}) == 1


async def test_the_history_reads_after_a_serial_and_knows_what_it_no_longer_keeps(
    adapter: Adapter,
) -> None:
    empty = await adapter.history(APP.id, CHANNEL, RULE, 0, 10)
    assert (empty.last, empty.complete, empty.entries) == (0, True, [])
    for n in range(1, 7):  # max_events is 4: 1 and 2 go
        await adapter.publish_history(APP.id, CHANNEL, RULE, event(n))
    page = await adapter.history(APP.id, CHANNEL, RULE, 0, 10)
    assert page.epoch == empty.epoch  # the epoch a subscriber was told before the first event
    assert [e.serial for e in page.entries] == [3, 4, 5, 6]
    assert (page.last, page.complete) == (6, False)
    after = await adapter.history(APP.id, CHANNEL, RULE, 2, 1)
    assert ([e.serial for e in after.entries], after.complete) == ([3], True)
    stamped = orjson.loads(page.entries[0].payload)
    assert (stamped["serial"], stamped["epoch"], stamped["data"]) == (3, page.epoch, '{"n":3}')
    stale = await adapter.history(APP.id, CHANNEL, RULE, 5, 10, "another-epoch")
    assert ([e.serial for e in stale.entries], stale.complete) == ([3, 4, 5, 6], False)


async def test_a_skipped_socket_is_kept_as_the_sender_and_gets_nothing_live(
    adapter: Adapter,
) -> None:
    author, reader = await subscribed(adapter), await subscribed(adapter)
    await adapter.publish_history(APP.id, CHANNEL, RULE, event(1), author.socket_id)
    await until(lambda: stamps(reader))
    await settle(adapter)
    assert stamps(author) == []
    (entry,) = (await adapter.history(APP.id, CHANNEL, RULE, 0, 10)).entries
    assert entry.sender == author.socket_id


async def test_events_older_than_ttl_are_not_kept(adapter: Adapter) -> None:
    short = HistoryRule("agent-*", max_events=10, ttl=0.2)
    await adapter.publish_history(APP.id, CHANNEL, short, event(1))
    first = await adapter.history(APP.id, CHANNEL, short, 0, 10)
    assert [e.serial for e in first.entries] == [1]

    async def forgotten() -> bool:
        return not (await adapter.history(APP.id, CHANNEL, short, 0, 10)).entries

    await until(forgotten, timeout=5)
    page = await adapter.history(APP.id, CHANNEL, short, 0, 10, first.epoch)
    assert page.complete is False


# -- a cluster -----------------------------------------------------------------------------
async def test_every_node_delivers_in_the_same_serial_order(
    two_nodes: tuple[Adapter, Adapter],
) -> None:
    a, b = two_nodes
    on_a, on_b = await subscribed(a), await subscribed(b)
    sends = [
        hub.publish_history(APP.id, CHANNEL, RULE, event(n)) for n in range(8) for hub in (a, b)
    ]
    await asyncio.gather(*sends)
    await until(lambda: len(stamps(on_a)) == 16 and len(stamps(on_b)) == 16)
    assert on_a.frames == on_b.frames
    assert [serial for _, serial, _ in stamps(on_a)] == list(range(1, 17))


async def test_a_redis_flush_starts_a_new_epoch(
    redis_driver: Driver, two_nodes: tuple[Adapter, Adapter]
) -> None:
    a, _ = two_nodes
    await a.publish_history(APP.id, CHANNEL, RULE, event(1))
    before = await a.history(APP.id, CHANNEL, RULE, 0, 10)
    client = redis_sync.Redis(port=redis_driver.port)
    try:
        client.flushall()
    finally:
        client.close()
    after = await a.history(APP.id, CHANNEL, RULE, 1, 10, before.epoch)
    assert after.epoch != before.epoch
    assert (after.last, after.complete) == (0, False)


@pytest.fixture
async def cut_off_node(redis_driver: Driver) -> AsyncIterator[tuple[RedisAdapter, CutProxy]]:
    """A node reaching Redis through a proxy the test can cut (its pub/sub included)."""
    proxy = CutProxy(redis_driver.port).start()
    settings = ServerSettings(
        redis_url=f"redis://127.0.0.1:{proxy.port}",
        redis_prefix=redis_driver._prefix,
        redis_timeout=2.0,
        node_timeout=10.0,
    )
    node = RedisAdapter(EventBus(), settings)
    await node.start()
    await until(node.ready)
    yield node, proxy
    proxy.restore()
    await node.close()
    proxy.close()


async def test_a_node_whose_pub_sub_dropped_catches_up_from_the_stream(
    redis_driver: Driver, cut_off_node: tuple[RedisAdapter, CutProxy]
) -> None:
    node, proxy = cut_off_node
    publisher = await redis_driver.start()
    here = await subscribed(node)
    await publisher.publish_history(APP.id, CHANNEL, RULE, event(1))
    await until(lambda: len(stamps(here)) == 1)

    proxy.cut()
    await until(lambda: not node.ready(), timeout=10)
    for n in (2, 3):  # published while the node hears nothing
        await publisher.publish_history(APP.id, CHANNEL, RULE, event(n))
    proxy.restore()
    await until(node.ready, timeout=10)
    await publisher.publish_history(APP.id, CHANNEL, RULE, event(4))

    await until(lambda: len(stamps(here)) >= 4, timeout=5)
    await settle(node)
    assert [(n, serial) for n, serial, _ in stamps(here)] == [(1, 1), (2, 2), (3, 3), (4, 4)]
