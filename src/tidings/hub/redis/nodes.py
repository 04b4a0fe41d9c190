"""Node liveness: heartbeats, reaping dead nodes, re-registering after Redis trouble.

Each node refreshes ``P:node:N`` (expiring after ``node_timeout``) several times per timeout.
Every tick it also checks the other nodes' keys; the first survivor to take ``P:reap:N`` removes
a dead node's share (members, counts, sign-ins) and announces the departures, once.

If our own key is gone (Redis restarted, or we were cut off so long that we were reaped), or a
change failed to reach Redis, the node takes a fresh id, writes its whole local share under it
and reaps the old id itself. Only a Redis that lost its data (seen from ``P:epoch``) keeps the
re-registration silent, since every node is then re-announcing what clients already know.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Protocol

from tidings.background import cancel_and_wait
from tidings.config import ServerSettings
from tidings.hub.redis.state import Keys, text
from tidings.metrics.figures import redis_round_trip_errors
from tidings.redis_client import FAILURES, Client

log = logging.getLogger("tidings.redis")


def heartbeat_interval(node_timeout: float) -> float:
    return min(1.0, node_timeout / 5)


class Share(Protocol):
    """What this node holds in Redis, as node liveness needs to see it."""

    node: str  # the id our share is written under
    stale: bool  # a change may have missed Redis: write the whole share again

    def new_node_id(self) -> tuple[str, str]:
        """Switch to a fresh node id; returns (old, new)."""

    async def restore(self, node: str, announce: bool) -> None:
        """Write the whole local share under ``node``."""

    async def reap(self, node: str) -> None:
        """Remove what ``node`` held and announce the departures; the caller holds its lock."""


class Nodes:
    def __init__(self, share: Share, redis: Client, keys: Keys, settings: ServerSettings) -> None:
        self._share = share
        self._redis = redis
        self._keys = keys
        self._ttl_ms = int(settings.node_timeout * 1000)
        self._interval = heartbeat_interval(settings.node_timeout)
        self._epoch: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.healthy = False
        self._was_healthy = False
        self.count: int | None = None  # nodes registered, as of the last tick

    async def start(self) -> None:
        await self.tick()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        # The flag, not only cancel(): a cancel that lands inside a Redis command can be
        # absorbed by the client library, and the loop would then beat on forever.
        self._closing = True
        await cancel_and_wait(self._task)
        node = self._share.node
        with contextlib.suppress(*FAILURES):
            if await self._redis.set(self._keys.reap_lock(node), b"closing", nx=True, px=30_000):
                await self._share.reap(node)  # whatever is left after the drain

    async def _run(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._interval)
            if not self._closing:
                await self.tick()

    async def tick(self) -> None:
        adapter = self._share
        try:
            alive = await self._redis.set(
                self._keys.node(adapter.node), b"1", px=self._ttl_ms, xx=True
            )
            if not alive or adapter.stale:
                await self._reregister()
            if not self.healthy:  # news when Redis is back, routine at start-up
                level = logging.WARNING if self._was_healthy else logging.INFO
                log.log(level, "Redis reachable; node %s registered", adapter.node)
            self.healthy = self._was_healthy = True
            await self._sweep()
        except FAILURES as error:
            redis_round_trip_errors.note()
            if self.healthy:
                log.warning("Redis unreachable (%s); serving local sockets only", error)
            self.healthy = False
        except Exception:  # a bug here must not stop the heartbeat
            log.exception("node heartbeat failed")

    async def _reregister(self) -> None:
        keys, adapter = self._keys, self._share
        epoch = await self._redis.get(keys.epoch)
        if epoch is None:
            await self._redis.set(keys.epoch, secrets.token_hex(8).encode(), nx=True)
            epoch = await self._redis.get(keys.epoch)
        epoch = text(epoch) if epoch is not None else None
        wiped = self._epoch is not None and epoch != self._epoch
        self._epoch = epoch
        old, node = adapter.new_node_id()
        await self._redis.set(keys.node(node), b"1", px=self._ttl_ms)
        await self._redis.sadd(keys.nodes, node)
        try:
            await adapter.restore(node, announce=not wiped)
        except FAILURES:
            adapter.stale = True
            raise
        if await self._redis.set(keys.reap_lock(old), node.encode(), nx=True, px=30_000):
            await adapter.reap(old)

    async def _sweep(self) -> None:
        keys = self._keys
        nodes = [text(node) for node in await self._redis.smembers(keys.nodes)]
        self.count = len(nodes)
        others = [node for node in nodes if node != self._share.node]
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.exists(keys.node(node))
            alive = await pipe.execute()
        for node, exists in zip(others, alive, strict=True):
            if exists:
                continue
            if await self._redis.set(keys.reap_lock(node), self._share.node, nx=True, px=30_000):
                log.warning("node %s stopped answering; removing its members and counts", node)
                await self._share.reap(node)
