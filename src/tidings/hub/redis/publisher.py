"""PUBLISHes issued in one event-loop iteration leave in one pipeline, in the order issued.

A batch trigger (10 events) or concurrent API requests then cost one Redis round trip instead
of one each. Order holds where the protocol needs it: one publisher awaits each call before its
next (an HTTP client's requests, a socket's client events), so its messages are never in two
pipelines racing on different connections; messages issued together share one pipeline.

With Sentinel, what the HTTP API publishes (``gated``) goes through the gate instead, which
refuses the batch unless every live node listens (hub/redis/sentinel.py); a socket's client
events and presence frames stay best effort, as they were.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis

from tidings.background import spawn

log = logging.getLogger("tidings.redis")

Send = Callable[[Sequence[tuple[bytes, bytes]]], Awaitable[None]]  # (topic, message) pairs
Queued = tuple[bytes, bytes, asyncio.Future[None]]


class Publisher:
    def __init__(self, redis: Redis, gate: Send | None = None) -> None:
        self._redis = redis
        self._gate = gate
        self._queue: list[Queued] = []
        self._gated: list[Queued] = []

    def publish(self, topic: bytes, message: bytes, gated: bool = False) -> asyncio.Future[None]:
        """Queue one PUBLISH; the future resolves when Redis has accepted it (or fails)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._queue and not self._gated:
            loop.call_soon(self._flush)
        queue = self._gated if gated and self._gate is not None else self._queue
        queue.append((topic, message, future))
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        if batch:
            spawn(self._send(batch, self._pipeline))
        batch, self._gated = self._gated, []
        if batch and self._gate is not None:
            spawn(self._send(batch, self._gate))

    async def _pipeline(self, batch: Sequence[tuple[bytes, bytes]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic, message in batch:
                pipe.publish(topic, message)
            await pipe.execute()

    async def _send(self, batch: list[Queued], send: Send) -> None:
        try:
            await send([(topic, message) for topic, message, _ in batch])
        except BaseException as error:  # every waiter learns of the failure, then we re-raise
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(
                        error
                        if isinstance(error, Exception)
                        else ConnectionError("publish cancelled")
                    )
            if not isinstance(error, Exception):
                raise
            return
        for _, _, future in batch:
            if not future.done():
                future.set_result(None)
