"""Redis behind Sentinel: follow the master through a failover, and never answer 200 for an
event some node could not hear.

Commands already follow the master by themselves: every new pooled connection asks the
sentinels where it is. A pub/sub connection does not: one held on the old master stays there
(the old master may come back as a replica and keep it alive), and one broken by the failover
waits out its reconnect back-off. ``MasterWatch`` listens for the sentinels' ``+switch-master``
and asks them every ``interval`` anyway (a message can be missed while we reconnect); when the
master moves, idle pooled connections are dropped, busy ones are closed on release, and the
node's subscription moves at once. Replication is asynchronous, so the new master may lack the
old one's last writes: the node then writes its whole share there again (as after any Redis
trouble, see nodes.py). Until the sentinels name a master they see up, the node is not ready.

Pub/sub is not replicated: an event PUBLISHed on the new master before some node has
resubscribed there reaches that node's sockets never, although the API said 200. So with
Sentinel what the HTTP API publishes goes out through ``GATED_PUBLISH``, which first checks, on
that very server and atomically with the PUBLISHes, that every live node's own topic has a
subscriber there (a node subscribes its own topic last, with all the others in one SUBSCRIBE);
otherwise the whole batch is refused, a 503 the caller may retry. A node that crashed is not
waited for once it missed three heartbeats, except in the first ``node_timeout`` of a new
master, when nobody could beat yet and only an expired heartbeat key tells. Client events and
presence frames are not gated: they stay best effort, as without Sentinel, rather than be
refused to every node while one is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from tidings.background import cancel_and_wait
from tidings.hub.redis.nodes import heartbeat_interval
from tidings.hub.redis.publisher import Outbound
from tidings.hub.redis.state import Keys
from tidings.hub.redis.streams import SEQUENCE, new_epoch
from tidings.hub.redis.topics import Topics
from tidings.metrics.figures import redis_round_trip_errors
from tidings.redis_client import FAILURES, SentinelPool

log = logging.getLogger("tidings.redis")

# KEYS[1] the set of node ids; ARGV node key prefix, node topic prefix, prefix of the key
# noting when this master took its first gated batch, node_timeout in ms, the heartbeat age
# that says "gone" in ms, an epoch for channels that start one, then per message nine fields:
# 'p', topic, message and six blanks for a plain publish; 's', the topic, the channel's stream
# and serial keys and ``streams.event_args``' five for a channel event. A node id is its
# process's origin, '-', a generation; the origin names its topic. A node not heard here is
# waited for while its heartbeat key lives, unless this master has served longer than
# node_timeout (whoever was alive at the switch has beaten here since) and the node stopped
# beating: it crashed. The master_replid is new with each promoted master and is not replicated
# data; the key noting its start lasts a day, then the next batch notes a new start.
GATED_PUBLISH = (
    SEQUENCE
    + """
local node_key, node_topic = ARGV[1], ARGV[2]
local ttl, gone = tonumber(ARGV[4]), tonumber(ARGV[5])
local since = ARGV[3] .. string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('SET', since, now, 'NX', 'PX', 86400000)
local settled = now - tonumber(redis.call('GET', since)) > ttl
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local origin = string.match(node, '^(.*)%-%d+$') or node
  if redis.call('PUBSUB', 'NUMSUB', node_topic .. origin)[2] == 0 then
    local left = redis.call('PTTL', node_key .. node)
    if left > 0 and not (settled and ttl - left > gone) then
      return redis.error_reply('UNHEARD node ' .. origin .. ' is not subscribed on this master yet')
    end
  end
end
for i = 7, #ARGV, 9 do
  if ARGV[i] == 'p' then
    redis.call('PUBLISH', ARGV[i + 1], ARGV[i + 2])
  else
    sequence(ARGV[i + 2], ARGV[i + 3], ARGV[i + 1], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6],
      ARGV[i + 7], ARGV[i + 8], ARGV[6], 'PUBLISH')
  end
end
return 1
"""
)

SWITCH = "+switch-master"


class Gate:
    """Publishes a batch only where every live node listens (see the module's docstring)."""

    def __init__(self, redis: Redis, keys: Keys, node_timeout: float) -> None:
        self._script = redis.register_script(GATED_PUBLISH)
        self._keys = [keys.nodes]
        ttl_ms = int(node_timeout * 1000)
        gone_ms = int(3 * heartbeat_interval(node_timeout) * 1000)  # three beats missed
        self._head: list[Any] = [
            keys.node(""),
            keys.node_topic(""),
            f"{keys.prefix}:master-since:",
            ttl_ms,
            gone_ms,
        ]

    async def publish(self, batch: Sequence[Outbound]) -> list[Any]:
        """All of ``batch`` or, with an error, none of it."""
        args = [*self._head, new_epoch()]
        for outbound in batch:
            if outbound.fields is None:
                args += ("p", outbound.topic, outbound.message, "", "", "", "", "", "")
            else:
                args += ("s", outbound.topic, *outbound.keys, *outbound.fields)
        await self._script(keys=self._keys, args=args)
        return [None] * len(batch)


class MasterWatch:
    def __init__(
        self, redis: Redis, topics: Topics, interval: float, on_move: Callable[[], None]
    ) -> None:
        pool = redis.connection_pool
        assert isinstance(pool, SentinelPool)
        self._pool = pool
        self._sentinel = pool.sentinel_manager
        self._name: str = pool.service_name
        self._topics = topics
        self._interval = interval
        self._on_move = on_move
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.master: tuple[str, int] | None = None
        self.known = False  # the sentinels name a master they see up

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._task)
        with contextlib.suppress(*FAILURES):
            await self._sentinel.aclose()

    async def check(self) -> None:
        """Ask the sentinels where the master is; follow it if it moved."""
        try:
            address = await self._sentinel.discover_master(self._name)
        except FAILURES as error:  # MasterNotFoundError too: no sentinel sees the master up
            redis_round_trip_errors.note()
            if self.known:
                log.warning("no Redis master known for %r (%s); not ready", self._name, error)
            self.known = False
            return
        address = (str(address[0]), int(address[1]))
        was_known, self.known = self.known, True
        if address == self.master:
            if not was_known:
                log.warning("Redis master for %r is up again at %s:%s", self._name, *address)
            return
        previous, self.master = self.master, address
        if previous is None:
            return  # the first answer: connections go there by themselves
        log.warning("Redis master moved from %s:%s to %s:%s; following it", *previous, *address)
        with contextlib.suppress(*FAILURES):
            await self._pool.get_master_address()  # type: ignore[no-untyped-call]  # drops idle ones
        # Busy connections to the old master are closed when released.
        await self._pool.update_active_connections_for_reconnect()  # type: ignore[no-untyped-call]
        self._topics.follow(address)
        self._on_move()

    async def _run(self) -> None:
        turn = 0
        while not self._closing:
            sentinels = self._sentinel.sentinels
            feed = sentinels[turn % len(sentinels)].pubsub()
            turn += 1
            try:
                await asyncio.wait_for(feed.subscribe(SWITCH), self._interval * 4)
                await self._follow(feed)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # this sentinel is away: ask the next one
                redis_round_trip_errors.note()
                log.debug("sentinel feed lost (%s)", error)
                await self.check()
                await asyncio.sleep(self._interval)
            finally:
                with contextlib.suppress(Exception):
                    await feed.aclose()

    async def _follow(self, feed: PubSub) -> None:
        """Re-check on every +switch-master, and every ``interval`` in case one was missed."""
        while not self._closing:
            await feed.get_message(ignore_subscribe_messages=True, timeout=self._interval)
            await self.check()
