"""PUBLISHes issued in one event-loop iteration leave in one pipeline, in the order issued.

A batch trigger (10 events) or concurrent API requests then cost one Redis round trip instead
of one each. Order holds where the protocol needs it: one publisher awaits each call before its
next (an HTTP client's requests, a socket's client events), so its messages are never in two
pipelines racing on different connections; messages issued together share one pipeline.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from tidings.background import spawn

log = logging.getLogger("tidings.redis")


class Publisher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
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
