"""Every channel's recent events in a Redis stream, with a serial: nothing is lost or doubled
when a node's pub/sub subscription drops, and history channels (docs/history.md) are exact
across a cluster.

Per channel (base ``P:{A:C}:``, see state.py): ``h`` is a stream of its recent events, entry id
``<serial>-0`` with fields ``t`` (Redis time, ms), ``p`` (the payload as delivered) and ``s``
(the socket it skipped); ``hm`` a hash with the last serial ``s`` and the epoch ``e``. Both
expire a while after the last event: ``ttl`` of a history channel's rule, the short recovery
window (``redis_recovery_seconds``, ``redis_recovery_events``) for the others. A channel whose
hash is gone (expired, flushed) starts a new epoch.

One script (``SEQUENCE``) assigns the serial, appends and publishes, so Redis's order is the
serial order and every node, the publishing one included, delivers from the topic in that order.
Each node notes the last serial it delivered per channel. When its pub/sub connection comes
back, or a message's serial is not the next one, it holds that channel's messages, reads the
stream past that serial, delivers the gap, then what it held. Only history channels get the
serial and epoch in the frame itself: for the others it travels beside the payload.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from array import array
from dataclasses import dataclass
from typing import Any

from tidings.apps.history import HistoryRule
from tidings.background import spawn
from tidings.hub.history import HistoryEntry, HistoryPage, page_of
from tidings.hub.local import LocalSockets
from tidings.hub.redis.state import Keys
from tidings.redis_client import FAILURES, Client

log = logging.getLogger("tidings.redis")

SEQUENCED = b"h"  # the origin of a sequenced message: no node's, so every node delivers it

# A Lua function, the head of each script that publishes channel events (this module's, and
# Sentinel's gated batch): the channel's stream, its serial's hash and its topic, then the
# fields ``event_args`` builds, then the epoch to start if the channel has none and the
# publishing command.
SEQUENCE = """
local function sequence(stream, meta, topic, payload, skip, max_events, ttl, splice, new_epoch,
                        command)
  local epoch = redis.call('HGET', meta, 'e')
  if not epoch then
    epoch = new_epoch
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'e', epoch)
  end
  local serial = redis.call('HINCRBY', meta, 's', 1)
  if splice == '1' then
    payload = payload .. ',"serial":' .. serial .. ',"epoch":"' .. epoch .. '"}'
  end
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('XADD', stream, 'MAXLEN', '~', max_events, serial .. '-0',
    't', ms, 'p', payload, 's', skip)
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PEXPIRE', meta, ttl)
  local route = serial .. ' ' .. epoch .. ' ' .. skip
  redis.call(command, topic, 'h\\n' .. route .. '\\n' .. payload)
  return serial
end
"""

# KEYS ``Keys.stream``; ARGV the topic, event_args' five, the new epoch, the command.
# Returns the serial.
PUBLISH_ONE = (
    SEQUENCE
    + """
return sequence(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8])
"""
)

# KEYS ``Keys.stream``; ARGV an epoch to start if none, max_events (0: only where the history
# stands, as a subscription needs), ttl (ms). Returns {epoch, last serial, now (ms), newest
# entries first...}.
READ = """
local stream, meta = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch, 's', 0)
  redis.call('PEXPIRE', meta, ARGV[3])
end
local last = tonumber(redis.call('HGET', meta, 's') or '0')
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if ARGV[2] == '0' then return {epoch, last, ms, {}} end
return {epoch, last, ms, redis.call('XREVRANGE', stream, '+', '-', 'COUNT', ARGV[2])}
"""

# KEYS ``Keys.stream``; ARGV the epoch a node has, the last serial it delivered in it, how
# many serials before that (or before the stream's last, if lower) to return as well, so the
# node can check them against what it delivered. Returns {epoch or false, last serial,
# entries (all of them in another epoch)}.
CATCH_UP = """
local meta = KEYS[2]
local epoch = redis.call('HGET', meta, 'e')
local last = tonumber(redis.call('HGET', meta, 's') or '0')
local start = '-'
if epoch == ARGV[1] then
  local from = math.min(tonumber(ARGV[2]), last) - tonumber(ARGV[3])
  if from > 0 then start = from .. '-0' end
end
return {epoch, last, redis.call('XRANGE', KEYS[1], start, '+')}
"""
RECENT = 128  # serials a node remembers per channel (by payload hash) to spot a rewrite
CATCH_UP_TRIES = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6)  # delays: a failover can take a moment


def event_args(rule: HistoryRule, payload: bytes, sender: str | None, splice: bool) -> list[Any]:
    """``SEQUENCE``'s per-event fields; ``splice``: the frame itself gets serial and epoch (a
    history channel's), so its closing brace is left for the script to write."""
    body = payload[:-1] if splice else payload
    return [body, sender or "", rule.max_events, max(1, int(rule.ttl * 1000)), int(splice)]


def new_epoch() -> str:
    return secrets.token_hex(6)


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
    awaiting: bool = False  # resubscribing: read back once Redis confirms it
    catching: bool = False  # a read-back is running
    again: bool = False  # and was asked for once more meanwhile
    # The last RECENT serials delivered and their payloads' hashes, by serial % RECENT: two
    # arrays of machine integers (2 KiB a channel), made at the first delivery.
    serials: array[int] | None = None
    hashes: array[int] | None = None

    def remember(self, serial: int, payload: bytes) -> None:
        if self.serials is None or self.hashes is None:
            self.serials, self.hashes = array("q", bytes(8 * RECENT)), array("q", bytes(8 * RECENT))
        slot = serial % RECENT
        self.serials[slot], self.hashes[slot] = serial, hash(payload)

    def contradicts(self, serial: int, payload: bytes) -> bool:
        """True when we delivered something else under ``serial``; False when it is what we
        delivered, or too old to tell."""
        if self.serials is None or self.hashes is None:
            return False
        slot = serial % RECENT
        return self.serials[slot] == serial and self.hashes[slot] != hash(payload)


class ChannelStreams:
    def __init__(self, redis: Client, keys: Keys, local: LocalSockets) -> None:
        self.redis = redis
        self.keys = keys
        self.local = local
        self._positions: dict[bytes, _Position] = {}
        self._read = redis.register_script(READ)
        self._catch_up_script = redis.register_script(CATCH_UP)

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
        args: list[Any] = [new_epoch(), count, max(1, int(rule.ttl * 1000))]
        keys = self.keys.stream(app_id, channel)
        current, last, now, newest = await self._read(keys=keys, args=args)
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
        meta = self.keys.stream(app_id, channel)[1]
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
        """A sequenced message from the topic: deliver it here unless already delivered; a
        serial past the next one means messages went missing: fetch them first."""
        serial_text, epoch, skip = arg.split(b" ", 2)
        serial, sender = int(serial_text), skip.decode() or None
        position = self._positions.get(topic)
        if position is None:  # not tracked (Redis was away at the subscription): start here
            position = self._positions[topic] = _Position(app_id, channel, epoch, serial - 1)
        if position.held is not None:
            position.held.append((serial, epoch, payload, sender))
            return
        expected = position.serial + 1 if epoch == position.epoch else 1
        if serial > expected:
            position.held = [(serial, epoch, payload, sender)]
            self._catch_up_soon(topic, position)
            return
        self._deliver(position, serial, epoch, payload, sender)

    def _deliver(
        self, position: _Position, serial: int, epoch: bytes, payload: bytes, sender: str | None
    ) -> None:
        if epoch == position.epoch and serial <= position.serial:
            return  # delivered already (caught up from the stream)
        position.epoch, position.serial = epoch, serial
        position.remember(serial, payload)
        self.local.deliver(position.app_id, position.channel, payload, sender)

    def reconnecting(self, topics: list[bytes] | None = None) -> None:
        """Pub/sub connections are being made again (for ``topics``, or all): hold those
        channels' messages until the resubscription is confirmed and the stream read."""
        positions = self._positions
        chosen = positions.values() if topics is None else (positions.get(t) for t in topics)
        for position in chosen:
            if position is not None:
                if position.held is None:
                    position.held = []
                position.awaiting = True

    def confirmed(self, topic: bytes) -> None:
        """Redis confirmed the topic's SUBSCRIBE: read what the gap missed, then release."""
        position = self._positions.get(topic)
        if position is not None and position.awaiting:
            position.awaiting = False
            self._catch_up_soon(topic, position)

    def _catch_up_soon(self, topic: bytes, position: _Position) -> None:
        """One read-back at a time per channel: asked again meanwhile, it reads once more."""
        if position.catching:
            position.again = True
        else:
            position.catching = True
            spawn(self._catch_up(topic, position))

    async def _catch_up(self, topic: bytes, position: _Position) -> None:
        try:
            while True:
                position.again = False
                read = await self._read_back(position)
                if self._positions.get(topic) is not position:
                    return  # the last local socket left meanwhile
                if read is not None:
                    self._apply(position, *read)
                if position.again:
                    continue
                if position.awaiting:
                    return  # resubscribing: its confirmation reads again, then releases
                if read is None:
                    log.warning("could not read %s's stream after a gap", position.channel)
                self._release(position)
                return
        except Exception:  # a bug here must not hold the channel's messages forever
            log.exception("reading back %s's stream failed", position.channel)
            self._release(position)
        finally:
            position.catching = False

    async def _read_back(self, position: _Position) -> tuple[bytes, int, list[Any]] | None:
        keys = self.keys.stream(position.app_id, position.channel)
        for delay in CATCH_UP_TRIES:  # the channel's messages stay held meanwhile
            await asyncio.sleep(delay)
            try:
                args: list[bytes | int] = [position.epoch, position.serial, RECENT]
                epoch, last, raw = await self._catch_up_script(keys=keys, args=args)
                return _bytes(epoch), int(last), raw
            except FAILURES:
                continue
        return None

    def _apply(self, position: _Position, epoch: bytes, last: int, raw: list[Any]) -> None:
        entries = [_entry(raw_id, _fields(flat))[1] for raw_id, flat in raw]
        if epoch == position.epoch:
            self._rewind(position, entries, last)
        for entry in entries:
            self._fill(position, entry.serial, epoch, entry.payload, entry.sender)

    def _release(self, position: _Position) -> None:
        held, position.held = position.held or [], None
        for serial, epoch, payload, sender in held:  # in Redis's order
            self._fill(position, serial, epoch, payload, sender)

    @staticmethod
    def _rewind(position: _Position, entries: list[HistoryEntry], last: int) -> None:
        """A promoted replica may lack the last writes and give their serials to new events:
        from the first serial whose entry is not what this node delivered (or past the
        stream's last), serials are news again."""
        rewound = min(position.serial, last)
        for entry in entries:
            if entry.serial > position.serial:
                break
            if position.contradicts(entry.serial, entry.payload):
                rewound = entry.serial - 1
                break
        if rewound < position.serial:
            log.warning(
                "%s's stream was rewritten after serial %d, past which this node had delivered "
                "up to %d (a Redis failover lost writes)",
                position.channel, rewound, position.serial,
            )  # fmt: skip
            position.serial = rewound

    def _fill(
        self, position: _Position, serial: int, epoch: bytes, payload: bytes, sender: str | None
    ) -> None:
        """Deliver while catching up, saying so when what comes next is not the next serial."""
        expected = position.serial + 1 if epoch == position.epoch else 1
        if serial > expected and position.epoch:
            log.warning(
                "%d events on %s were published while this node was not listening and are no "
                "longer in its stream (see redis_recovery_events and redis_recovery_seconds)",
                serial - expected, position.channel,
            )  # fmt: skip
        self._deliver(position, serial, epoch, payload, sender)
