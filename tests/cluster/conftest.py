"""Three tidings nodes on loopback ports sharing one real redis-server (or two on Redis behind
Sentinel: 1 master, 1 replica, 3 sentinels; or on a 3-master Redis Cluster)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from tests.support.raw_client import RawClient
from tests.support.redis_sentinel import SentinelSetup
from tests.support.redis_server import RedisServer
from tests.support.server import AppSpec, TidingsServer

NODE_TIMEOUT = 2.0  # seconds before a silent node's members are removed


class Redis(Protocol):
    """Where the nodes keep their shared state: a ``RedisServer``, a ``RedisClusterSetup``."""

    @property
    def url(self) -> str: ...


def start_nodes(
    redis: Redis | str, app: AppSpec, count: int = 3, **server: Any
) -> list[TidingsServer]:
    """``count`` nodes of ``app`` on ``redis``: a URL (redis:// or redis+cluster://) or
    something that has one."""
    url = redis if isinstance(redis, str) else redis.url
    settings = {"redis_url": url, "node_timeout": NODE_TIMEOUT, **server}
    nodes: list[TidingsServer] = []
    try:
        for _ in range(count):
            nodes.append(TidingsServer([app], dict(settings)).start())
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as redis:
        yield redis


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer) -> Iterator[list[TidingsServer]]:
    """Nodes A, B and C of one app with client events and subscription counts on."""
    app = AppSpec(settings={"enable_client_events": True, "enable_subscription_count": True})
    nodes = start_nodes(redis_server, app)
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., tuple[RedisServer, list[TidingsServer]]]]:
    """An own redis-server and nodes for tests that kill or restart things."""
    started: list[tuple[RedisServer, list[TidingsServer]]] = []

    def start(app: AppSpec | None = None, count: int = 3, **server: Any) -> Any:
        redis = RedisServer().start()
        nodes = start_nodes(redis, app or AppSpec(), count, **server)
        started.append((redis, nodes))
        return redis, nodes

    yield start
    for redis, nodes in started:
        for node in nodes:
            node.stop()
        redis.stop()


@pytest.fixture
def make_sentinel_cluster() -> Iterator[Callable[..., tuple[SentinelSetup, list[TidingsServer]]]]:
    """An own master, replica and 3 sentinels (docs/cluster.md), and nodes that use them."""
    started: list[tuple[SentinelSetup, list[TidingsServer]]] = []

    def start(app: AppSpec | None = None, count: int = 2, **server: Any) -> Any:
        setup = SentinelSetup()
        started.append((setup, []))
        setup.start()
        # node_timeout above the failover time: a longer outage would have the nodes reap
        # each other, and docs/cluster.md says what that costs.
        settings: dict[str, Any] = {"node_timeout": 10, **setup.settings(), **server}
        for _ in range(count):
            started[-1][1].append(TidingsServer([app or AppSpec()], dict(settings)).start())
        return setup, started[-1][1]

    yield start
    for setup, nodes in started:
        for node in nodes:
            node.stop()
        setup.__exit__()


async def connect_to_both_workers(server: TidingsServer, clients: list[RawClient]) -> None:
    """Connect into ``clients`` until both of ``--workers 2`` hold some (at least 12 sockets).

    /ready answered as soon as one worker listened; the kernel spreads sockets over the
    workers bound so far, so connect until both have some (socket ids name the process)."""
    deadline = time.monotonic() + 10
    workers: set[str] = set()
    while (len(workers) < 2 or len(clients) < 12) and time.monotonic() < deadline:
        clients.append(await RawClient.connect(server))
        workers.add(clients[-1].socket_id.split(".")[0])
    assert len(workers) == 2


def presence_user(user_id: str, **info: Any) -> dict[str, Any]:
    return {"user_id": user_id, "user_info": info}


async def frames_until(client: RawClient, event: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every frame before the first ``event`` (a sentinel triggered after what is checked),
    leaving out subscription counts, which come and go with other tests' clients."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = await client.recv(timeout)
        if frame.get("event") == event:
            return seen
        if frame.get("event") != "pusher_internal:subscription_count":
            seen.append(frame)


def data(frame: dict[str, Any]) -> Any:
    """A frame's data: API events carry a JSON string, client events may carry the object."""
    value = frame["data"]
    return json.loads(value) if isinstance(value, str) else value


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait until the blocking ``check`` (run off the loop) returns something true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking SDK call off the event loop, so the WebSocket clients keep reading."""
    return await asyncio.to_thread(function, *args, **kwargs)
