"""Channel history in Redis Streams (docs/history.md), exact across a cluster.

Per app ``A`` and history channel ``C`` (prefix ``P``): ``P:{A}:h:C`` is a stream of the kept
events, entry id ``<serial>-0`` with fields ``t`` (Redis time, ms), ``p`` (the payload as
delivered) and ``s`` (the socket it skipped); ``P:{A}:hm:C`` a hash with the last serial
``s`` and the epoch ``e``. Both expire ``ttl`` after the last event; a channel whose hash is
gone (expired, flushed) starts a new epoch.

One script assigns the serial, appends and PUBLISHes, so Redis's order is the serial order and
every node, the publishing one included, delivers from the topic in that order. Each node notes
the last serial it delivered per channel; when its pub/sub connection comes back it holds that
channel's messages, reads the stream past that serial, delivers the gap, then what it held, so
nothing is lost or doubled across a pub/sub hiccup.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from tidings.apps.history import HistoryRule
from tidings.background import spawn
from tidings.hub.history import HistoryEntry, HistoryPage, page_of
from tidings.hub.local import LocalSockets
from tidings.hub.redis.state import Keys
from tidings.redis_client import FAILURES

log = logging.getLogger("tidings.redis")

HISTORY_ORIGIN = b"h"  # no node's origin: every node delivers these from the topic

# KEYS[1] app base; ARGV channel, topic, payload less its closing brace, skipped socket or '',
# max_events, ttl (ms), an epoch to start if the channel has none. Returns the serial.
PUBLISH = """
local stream, meta = KEYS[1] .. 'h:' .. ARGV[1], KEYS[1] .. 'hm:' .. ARGV[1]
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[7]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch)
end
local serial = redis.call('HINCRBY', meta, 's', 1)
local payload = ARGV[3] .. ',"serial":' .. serial .. ',"epoch":"' .. epoch .. '"}'
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('XADD', stream, 'MAXLEN', '~', ARGV[5], serial .. '-0',
  't', ms, 'p', payload, 's', ARGV[4])
redis.call('PEXPIRE', stream, ARGV[6])
redis.call('PEXPIRE', meta, ARGV[6])
local route = serial .. ' ' .. epoch .. ' ' .. ARGV[4]
redis.call('PUBLISH', ARGV[2], 'h\\n' .. route .. '\\n' .. payload)
return serial
"""

# KEYS[1] app base; ARGV channel, an epoch to start if none, max_events (0: only where the
# history stands, as a subscription needs), ttl (ms).
# Returns {epoch, last serial, now (ms), newest entries first...}.
READ = """
local stream, meta = KEYS[1] .. 'h:' .. ARGV[1], KEYS[1] .. 'hm:' .. ARGV[1]
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch, 's', 0)
  redis.call('PEXPIRE', meta, ARGV[4])
end
local last = tonumber(redis.call('HGET', meta, 's') or '0')
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if ARGV[3] == '0' then return {epoch, last, ms, {}} end
return {epoch, last, ms, redis.call('XREVRANGE', stream, '+', '-', 'COUNT', ARGV[3])}
"""


def _entry(raw_id: bytes, fields: dict[bytes, bytes]) -> tuple[int, HistoryEntry]:
    serial = int(raw_id.split(b"-", 1)[0])
    sender = fields.get(b"s") or b""
    return int(fields[b"t"]), HistoryEntry(serial, fields[b"p"], sender.decode() or None)


def _bytes(value: bytes | str | None) -> bytes:
    return value.encode() if isinstance(value, str) else value or b""


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


@dataclass(slots=True)
class _Position:
    app_id: str
    channel: str
    epoch: bytes
    serial: int
    held: list[tuple[int, bytes, bytes, str | None]] | None = None  # while catching up


class StreamHistory:
    def __init__(self, redis: Redis, keys: Keys, local: LocalSockets) -> None:
        self.redis = redis
        self.keys = keys
        self.local = local
        self._positions: dict[bytes, _Position] = {}
        self._publish = redis.register_script(PUBLISH)
        self._read = redis.register_script(READ)

    async def publish(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        topic: bytes,
        payload: bytes,
        sender: str | None,
    ) -> None:
        args: list[Any] = [channel, topic, payload[:-1], sender or "", rule.max_events]
        args += [max(1, int(rule.ttl * 1000)), secrets.token_hex(6)]
        await self._publish(keys=[self.keys.app(app_id)], args=args)

    async def read(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        after: int,
        limit: int,
        epoch: str | None,
    ) -> HistoryPage:
        count = rule.max_events if limit > 0 else 0
        args: list[Any] = [channel, secrets.token_hex(6), count, max(1, int(rule.ttl * 1000))]
        current, last, now, newest = await self._read(keys=[self.keys.app(app_id)], args=args)
        if not count:
            return HistoryPage(current.decode(), int(last), epoch in (None, current.decode()), [])
        oldest_kept = int(now) - rule.ttl * 1000
        kept = [
            entry
            for at, entry in (_entry(raw_id, _fields(flat)) for raw_id, flat in reversed(newest))
            if at > oldest_kept
        ]
        return page_of(current.decode(), int(last), kept, after, limit, epoch)

    # -- this node's deliveries -------------------------------------------------------------
    async def track(self, topic: bytes, app_id: str, channel: str) -> None:
        """Before the first local socket's SUBSCRIBE: where delivery here starts from."""
        if topic in self._positions:
            return
        meta = self.keys.app(app_id) + "hm:" + channel
        epoch, serial = await self.redis.hmget(meta, ["e", "s"])
        if topic not in self._positions:
            self._positions[topic] = _Position(app_id, channel, _bytes(epoch), int(serial or 0))

    def delivered(self, topic: bytes) -> tuple[bytes, int] | None:
        """The epoch and last serial this node delivered on ``topic``: everything after it
        still reaches the channel's local sockets, so a subscriber resumes from there."""
        position = self._positions.get(topic)
        return None if position is None else (position.epoch, position.serial)

    def untrack(self, topic: bytes) -> None:
        self._positions.pop(topic, None)

    def received(self, topic: bytes, app_id: str, channel: str, arg: bytes, payload: bytes) -> None:
        """A history message from the topic: deliver it here unless already delivered."""
        serial_text, epoch, skip = arg.split(b" ", 2)
        serial, sender = int(serial_text), skip.decode() or None
        position = self._positions.get(topic)
        if position is None:
            position = self._positions[topic] = _Position(app_id, channel, epoch, 0)
        if position.held is not None:
            position.held.append((serial, epoch, payload, sender))
            return
        self._deliver(position, serial, epoch, payload, sender)

    def _deliver(
        self, position: _Position, serial: int, epoch: bytes, payload: bytes, sender: str | None
    ) -> None:
        if epoch == position.epoch and serial <= position.serial:
            return  # delivered already (caught up from the stream)
        position.epoch, position.serial = epoch, serial
        self.local.deliver(position.app_id, position.channel, payload, sender)

    def reconnecting(self) -> None:
        """The pub/sub connection is being made again: hold every channel's messages."""
        for position in self._positions.values():
            if position.held is None:
                position.held = []

    def confirmed(self, topic: bytes) -> None:
        """Redis confirmed the topic's SUBSCRIBE: read what the gap missed, then release."""
        position = self._positions.get(topic)
        if position is not None and position.held is not None:
            spawn(self._catch_up(position))

    async def _catch_up(self, position: _Position) -> None:
        base = self.keys.app(position.app_id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hget(base + "hm:" + position.channel, "e")
                pipe.xrange(base + "h:" + position.channel, "-", "+")
                epoch, entries = await pipe.execute()
        except FAILURES as error:
            log.warning(
                "could not read %s's history after a reconnect: %s", position.channel, error
            )
            epoch, entries = None, []
        for raw_id, fields in entries:
            _, entry = _entry(raw_id, fields)
            self._deliver(position, entry.serial, epoch, entry.payload, entry.sender)
        held, position.held = position.held or [], None
        for serial, message_epoch, payload, sender in held:
            self._deliver(position, serial, message_epoch, payload, sender)
