"""What a node sends to Redis, issued in one event-loop iteration, leaves in one pipeline, in
the order issued.

Two kinds of message: a plain publish on a topic (presence frames, a user's events, watchers'
news), and a channel event, which goes through ``streams.SEQUENCE`` to get its serial and a
place in the channel's stream before it is published. A batch trigger (10 events) or concurrent
API requests then cost one Redis round trip instead of one each. Order holds where the protocol
needs it: one publisher awaits each call before its next (an HTTP client's requests, a socket's
client events), so its messages are never in two pipelines racing on different connections;
messages issued together share one pipeline. redis-py does not pipeline scripts on a Redis
Cluster: there each topic's messages go one after another, the topics' in parallel.

With Sentinel, what the HTTP API publishes (``gated``) goes through the gate instead, which
refuses the batch unless every live node listens (hub/redis/sentinel.py); a socket's client
events and presence frames stay best effort, as they were.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from tidings.background import spawn
from tidings.hub.redis.streams import PUBLISH_ONE, new_epoch
from tidings.redis_client import Client


@dataclass(slots=True)
class Outbound:
    """A plain publish of ``message`` on ``topic``, or, with ``fields`` (``streams.event_args``),
    a channel event sequenced on its stream's ``keys`` (``Keys.stream``) and published there."""

    topic: bytes
    message: bytes = b""
    fields: list[Any] | None = None
    keys: list[str] = field(default_factory=list)
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# Sends a batch; returns one result per message (an exception for one that failed).
Send = Callable[[Sequence[Outbound]], Awaitable[list[Any]]]


class Publisher:
    def __init__(self, redis: Client, command: str, gate: Send | None = None) -> None:
        self._redis = redis
        self._command = command  # PUBLISH, or SPUBLISH on a cluster's shard channels
        self._gate = gate
        self._sha = hashlib.sha1(PUBLISH_ONE.encode()).hexdigest()
        self._script = redis.register_script(PUBLISH_ONE)  # loads itself where missing
        self._cluster = isinstance(redis, RedisCluster)
        self._queue: list[Outbound] = []
        self._gated: list[Outbound] = []

    def publish(self, topic: bytes, message: bytes, gated: bool = False) -> asyncio.Future[None]:
        """Queue one publish; the future resolves when Redis has accepted it (or fails)."""
        return self._queued(Outbound(topic, message), gated)

    def sequence(
        self, keys: list[str], topic: bytes, fields: list[Any], gated: bool = False
    ) -> asyncio.Future[None]:
        """Queue one channel event (see ``Outbound``)."""
        return self._queued(Outbound(topic, fields=fields, keys=keys), gated)

    def _queued(self, outbound: Outbound, gated: bool) -> asyncio.Future[None]:
        if not self._queue and not self._gated:
            asyncio.get_running_loop().call_soon(self._flush)
        queue = self._gated if gated and self._gate is not None else self._queue
        queue.append(outbound)
        return outbound.done

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        if batch:
            spawn(self._send(batch, self._pipeline))
        batch, self._gated = self._gated, []
        if batch and self._gate is not None:
            spawn(self._send(batch, self._gate))

    async def _pipeline(self, batch: Sequence[Outbound]) -> list[Any]:
        if self._cluster:
            return await self._per_key(batch)
        results = await self._execute(batch, new_epoch())
        unknown = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if unknown:  # a Redis (or a promoted replica) that has not seen the script yet
            await self._redis.script_load(PUBLISH_ONE)
            again = await self._execute([batch[i] for i in unknown], new_epoch())
            for i, result in zip(unknown, again, strict=True):
                results[i] = result
        return results

    async def _execute(self, batch: Sequence[Outbound], epoch: str) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for outbound in batch:
                if outbound.fields is None:
                    pipe.execute_command(self._command, outbound.topic, outbound.message)
                else:
                    args = (outbound.topic, *outbound.fields, epoch, self._command)
                    pipe.evalsha(self._sha, 2, *outbound.keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def _per_key(self, batch: Sequence[Outbound]) -> list[Any]:
        results: list[Any] = [None] * len(batch)
        by_topic: dict[bytes, list[int]] = {}
        for i, outbound in enumerate(batch):
            by_topic.setdefault(outbound.topic, []).append(i)
        epoch = new_epoch()

        async def in_order(indexes: list[int]) -> None:
            for i in indexes:
                outbound = batch[i]
                try:
                    if outbound.fields is None:
                        await self._redis.execute_command(
                            self._command, outbound.topic, outbound.message
                        )
                    else:
                        args = [outbound.topic, *outbound.fields, epoch, self._command]
                        await self._script(keys=outbound.keys, args=args)
                except Exception as error:  # handed to that message's waiter
                    results[i] = error

        await asyncio.gather(*(in_order(indexes) for indexes in by_topic.values()))
        return results

    async def _send(self, batch: list[Outbound], send: Send) -> None:
        try:
            results = await send(batch)
        except BaseException as error:  # every waiter learns of the failure, then we re-raise
            failure = error if isinstance(error, Exception) else ConnectionError("cancelled")
            results = [failure] * len(batch)
            if not isinstance(error, Exception):
                _settle(batch, results)
                raise
        _settle(batch, results)


def _settle(batch: Sequence[Outbound], results: list[Any]) -> None:
    for outbound, result in zip(batch, results, strict=True):
        if outbound.done.done():
            continue
        if isinstance(result, Exception):
            outbound.done.set_exception(result)
        else:
            outbound.done.set_result(None)
