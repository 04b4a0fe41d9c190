"""Channel history (docs/history.md): what a read returns, and the embedded driver's store.

The memory store keeps a bounded ring per channel (``max_events``), drops entries older than
``ttl`` when it next looks, and releases a channel with nothing younger than ``ttl``; a released
or never-seen channel starts a new epoch, so a client can tell "nothing missed" from "gone".
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tidings.apps.history import HistoryRule
from tidings.protocol import messages

SWEEP_MIN = 1024


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    serial: int
    payload: bytes  # exactly as delivered: serial and epoch included
    sender: str | None  # the socket the event was not delivered to (a client event's sender)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    epoch: str
    last: int  # the channel's latest serial (0: nothing yet in this epoch)
    complete: bool  # False when events after the asked serial are no longer kept
    entries: list[HistoryEntry]


def page_of(
    epoch: str,
    last: int,
    kept: list[HistoryEntry],
    after: int,
    limit: int,
    asked_epoch: str | None,
) -> HistoryPage:
    """The read both drivers answer: a stale epoch means ``after`` says nothing any more, so
    everything kept is returned and the page is incomplete."""
    if asked_epoch is not None and asked_epoch != epoch:
        after, complete = 0, False
    else:
        first = kept[0].serial if kept else last + 1
        complete = after >= last or first <= after + 1
    entries = [entry for entry in kept if entry.serial > after][: max(0, limit)]
    return HistoryPage(epoch, last, complete, entries)


@dataclass(slots=True)
class _Ring:
    epoch: str
    ttl: float
    entries: deque[tuple[float, HistoryEntry]]
    serial: int = 0
    updated: float = 0.0


@dataclass(slots=True)
class MemoryHistory:
    clock: Callable[[], float]
    _rings: dict[tuple[str, str], _Ring] = field(default_factory=dict)
    _epochs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _process: str = field(default_factory=lambda: secrets.token_hex(4))
    _sweep_at: int = SWEEP_MIN

    def _ring(self, app_id: str, channel: str, now: float) -> _Ring | None:
        key = (app_id, channel)
        ring = self._rings.get(key)
        if ring is not None and now - ring.updated >= ring.ttl:
            del self._rings[key]  # nothing younger than ttl: the history is released
            return None
        return ring

    def append(
        self, app_id: str, channel: str, rule: HistoryRule, payload: bytes, sender: str | None
    ) -> bytes:
        """Keep one event; returns its payload stamped with its serial and the epoch."""
        now = self.clock()
        ring = self._ring(app_id, channel, now)
        if ring is None:
            ring = self._new(app_id, channel, rule)
        ring.serial += 1
        ring.updated = now
        stamped = messages.stamped(payload, ring.serial, ring.epoch)
        ring.entries.append((now, HistoryEntry(ring.serial, stamped, sender)))
        return stamped

    def _new(self, app_id: str, channel: str, rule: HistoryRule) -> _Ring:
        # Channels nobody writes to again would stay: whenever the rings have doubled since
        # the last sweep, release the expired ones (amortised O(1) per new ring).
        if len(self._rings) >= self._sweep_at:
            now = self.clock()
            for key in [k for k, r in self._rings.items() if now - r.updated >= r.ttl]:
                del self._rings[key]
            self._sweep_at = max(SWEEP_MIN, 2 * len(self._rings))
        epoch = f"{self._process}-{next(self._epochs)}"
        ring = _Ring(epoch, rule.ttl, deque(maxlen=rule.max_events))
        self._rings[(app_id, channel)] = ring
        return ring

    def read(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        after: int,
        limit: int,
        epoch: str | None = None,
    ) -> HistoryPage:
        """The kept events after ``after``; with ``limit`` 0 only the epoch and last serial
        (``complete`` then says only whether ``epoch`` is current)."""
        now = self.clock()
        ring = self._ring(app_id, channel, now)
        if ring is None:
            # No history yet: the epoch the next event will start is the one to remember.
            ring = self._new(app_id, channel, rule)
            ring.updated = now
        entries = ring.entries
        while entries and now - entries[0][0] >= rule.ttl:
            entries.popleft()
        if limit <= 0:  # only where the history stands (a subscription): no copy of it
            return HistoryPage(ring.epoch, ring.serial, epoch in (None, ring.epoch), [])
        kept = [entry for _, entry in entries]
        return page_of(ring.epoch, ring.serial, kept, after, limit, epoch)

    def channels(self) -> int:
        """Channels with a history held, expired ones included until looked at: for tests."""
        return len(self._rings)
