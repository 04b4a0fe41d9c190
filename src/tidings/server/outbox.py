"""Coalesced writes: each socket's frames of one event-loop iteration leave in one write.

A broadcast appends its (shared, pre-built) frame to each subscriber's pending list; once per
iteration the outbox hands every socket with something pending one ``transport.write``. Under
load many events land in the same iteration (a batch trigger, concurrent API requests), so a
subscriber costs one syscall per iteration instead of one per event.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def flush(self) -> None: ...


class Outbox:
    __slots__ = ("_dirty",)

    def __init__(self) -> None:
        self._dirty: list[Flushable] = []

    def add(self, conn: Flushable) -> None:
        """Queue ``conn`` for the next flush; callers add a connection once per flush."""
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(conn)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()
