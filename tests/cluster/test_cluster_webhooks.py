"""Webhooks in a cluster: a page that reloads onto another node is no news, as on one node;
a member who really leaves is reported exactly once, by whichever node saw her go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import NODE_TIMEOUT, presence_user
from tests.support.raw_client import RawClient, sdk_for
from tests.support.redis_server import RedisServer
from tests.support.server import AppSpec, TidingsServer
from tests.webhooks.receiver import Receiver, webhook_settings

DELAY = 1.5  # webhook_vacate_delay: long enough to come back within, short for a test


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    instance = await Receiver().start()
    yield instance
    await instance.stop()


@pytest.fixture
def nodes(
    redis_server: RedisServer, receiver: Receiver, tmp_path: Path
) -> Iterator[list[TidingsServer]]:
    """Nodes A and B of one app with webhooks, each with its own data directory, as on two
    hosts; started before the test's loop runs, so the receiver is idle meanwhile."""
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    started: list[TidingsServer] = []
    try:
        for name in ("a", "b"):
            settings: dict[str, Any] = {
                "redis_url": redis_server.url,
                "node_timeout": NODE_TIMEOUT,
                **webhook_settings(tmp_path / name, webhook_vacate_delay=DELAY),
            }
            started.append(TidingsServer([app], settings).start())
        yield started
    finally:
        for node in started:
            node.stop()


async def open_page(node: TidingsServer, user_id: str) -> RawClient:
    page = await RawClient.connect(node)
    await page.subscribe("presence-room", sdk_for(node), presence_user(user_id))
    return page


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted((event["name"], event.get("user_id")) for event in events)


async def test_leaving_node_a_and_coming_back_on_node_b_within_the_delay_is_no_news(
    nodes: list[TidingsServer], receiver: Receiver
) -> None:
    a, b = nodes
    first = await open_page(a, "alice")
    await receiver.wait_for(lambda: len(receiver.events()) >= 2)
    assert summary(receiver.events()) == [("channel_occupied", None), ("member_added", "alice")]

    await first.close()  # the page reloads, and the load balancer picks the other node
    reloaded = await open_page(b, "alice")
    await asyncio.sleep(DELAY + 1.0)  # well past the delay: A's pending departures are decided
    assert len(receiver.events()) == 2, receiver.events()

    await reloaded.close()  # now she really leaves, from B: reported once, after the delay
    await receiver.wait_for(lambda: len(receiver.events()) >= 4)
    assert summary(receiver.events()[2:]) == [
        ("channel_vacated", None),
        ("member_removed", "alice"),
    ]


async def test_leaving_node_a_for_good_is_reported_exactly_once_after_the_delay(
    nodes: list[TidingsServer], receiver: Receiver
) -> None:
    a, b = nodes
    alice = await open_page(a, "alice")
    await receiver.wait_for(lambda: len(receiver.events()) >= 2)

    await alice.close()
    await asyncio.sleep(DELAY / 2)
    assert len(receiver.events()) == 2, "departures wait for the delay"
    await receiver.wait_for(lambda: len(receiver.events()) >= 4)
    await asyncio.sleep(DELAY)  # time for a duplicate from either node to show up
    assert summary(receiver.events()[2:]) == [
        ("channel_vacated", None),
        ("member_removed", "alice"),
    ]

    # Coming back after the window is news again, on whichever node.
    async with await open_page(b, "alice"):
        await receiver.wait_for(lambda: len(receiver.events()) >= 6)
        assert summary(receiver.events()[4:]) == [
            ("channel_occupied", None),
            ("member_added", "alice"),
        ]


async def test_a_node_shutting_down_reports_its_departures_and_the_return_elsewhere_too(
    nodes: list[TidingsServer], receiver: Receiver
) -> None:
    """A stopping node cannot wait out the delay, so it reports the departures at once; the
    page that then reconnects to the other node is reported as well, never half the pair."""
    a, b = nodes
    page = await open_page(a, "alice")
    await receiver.wait_for(lambda: len(receiver.events()) >= 2)

    await asyncio.to_thread(a.stop)  # SIGTERM: sockets told to reconnect, webhooks written
    await receiver.wait_for(lambda: len(receiver.events()) >= 4)
    assert summary(receiver.events()[2:]) == [
        ("channel_vacated", None),
        ("member_removed", "alice"),
    ]
    await page.close()
    async with await open_page(b, "alice"):
        await receiver.wait_for(lambda: len(receiver.events()) >= 6)
        assert summary(receiver.events()[4:]) == [
            ("channel_occupied", None),
            ("member_added", "alice"),
        ]
