"""PUBLISHes issued in one event-loop iteration leave in one pipeline, in the order issued.

A batch trigger (10 events) or concurrent API requests then cost one Redis round trip instead
of one each. Order holds where the protocol needs it: one publisher awaits each call before its
next (an HTTP client's requests, a socket's client events), so its messages are never in two
pipelines racing on different connections; messages issued together share one pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis

from tidings.background import spawn

log = logging.getLogger("tidings.redis")

# Sends a batch some other way than one pipeline of PUBLISHes (Sentinel's gate).
Send = Callable[[Sequence[tuple[bytes, bytes]]], Awaitable[None]]


class Publisher:
    def __init__(self, redis: Redis, send: Send | None = None) -> None:
        self._redis = redis
        self._send_other = send
        self._queue: list[tuple[bytes, bytes, asyncio.Future[None]]] = []

    def publish(self, topic: bytes, message: bytes) -> asyncio.Future[None]:
        """Queue one PUBLISH; the future resolves when Redis has accepted it (or fails)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((topic, message, future))
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        spawn(self._send(batch))

    async def _send(self, batch: list[tuple[bytes, bytes, asyncio.Future[None]]]) -> None:
        try:
            if self._send_other is not None:
                await self._send_other([(topic, message) for topic, message, _ in batch])
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for topic, message, _ in batch:
                        pipe.publish(topic, message)
                    await pipe.execute()
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
