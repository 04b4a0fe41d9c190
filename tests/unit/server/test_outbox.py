"""Coalesced writes: one flush per loop iteration; frames queued during a flush wait for the next.

Ordering is observed against marker callbacks queued with ``call_soon``: the loop runs ready
callbacks first in, first out, so a marker queued right after the outbox's flush runs right after
it, and anything flushed after the marker was flushed in a later pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from tidings.server.outbox import Outbox


@dataclass
class Conn:
    name: str
    log: list[str]
    on_flush: Callable[[], None] | None = None
    flushes: int = 0
    flushed: asyncio.Event = field(default_factory=asyncio.Event)

    def flush(self) -> None:
        self.flushes += 1
        self.log.append(self.name)
        if self.on_flush is not None:
            self.on_flush()
        self.flushed.set()


def mark(log: list[str], text: str) -> None:
    """Log ``text`` when the callbacks queued so far have run."""
    asyncio.get_running_loop().call_soon(log.append, text)


async def test_nothing_is_flushed_until_the_loop_gets_a_turn() -> None:
    log: list[str] = []
    outbox = Outbox()
    conn = Conn("a", log)
    outbox.add(conn)
    assert conn.flushes == 0
    await conn.flushed.wait()
    assert conn.flushes == 1


async def test_every_connection_queued_in_one_iteration_is_flushed_once_in_one_pass() -> None:
    log: list[str] = []
    outbox = Outbox()
    a, b, c = Conn("a", log), Conn("b", log), Conn("c", log)
    for conn in (a, b, c):
        outbox.add(conn)
    mark(log, "after the first pass")
    await c.flushed.wait()
    assert log == ["a", "b", "c", "after the first pass"]
    assert (a.flushes, b.flushes, c.flushes) == (1, 1, 1)


async def test_adds_from_separate_callbacks_of_one_iteration_share_the_same_flush() -> None:
    log: list[str] = []
    outbox = Outbox()
    a, b = Conn("a", log), Conn("b", log)
    loop = asyncio.get_running_loop()

    def first_callback() -> None:
        outbox.add(a)  # schedules the flush
        mark(log, "queued after the flush")

    loop.call_soon(first_callback)
    loop.call_soon(outbox.add, b)  # same iteration, after the flush was scheduled
    await b.flushed.wait()
    # b went out in a's pass; a flush of its own would have come after the marker.
    assert log == ["a", "b", "queued after the flush"]


async def test_a_connection_queued_during_a_flush_goes_out_in_the_next_pass() -> None:
    log: list[str] = []
    outbox = Outbox()
    late = Conn("late", log)
    early = Conn("early", log, on_flush=lambda: outbox.add(late))
    other = Conn("other", log)
    outbox.add(early)
    outbox.add(other)
    mark(log, "after the first pass")
    await late.flushed.wait()
    assert log == ["early", "other", "after the first pass", "late"]
    assert late.flushes == 1


async def test_a_connection_may_requeue_itself_from_its_own_flush() -> None:
    log: list[str] = []
    outbox = Outbox()
    conn = Conn("a", log)
    second_flush = asyncio.get_running_loop().create_future()

    def requeue_once() -> None:
        if conn.flushes == 1:
            outbox.add(conn)
        else:
            second_flush.set_result(None)

    conn.on_flush = requeue_once
    outbox.add(conn)
    mark(log, "after the first pass")
    await second_flush
    assert log == ["a", "after the first pass", "a"]


async def test_the_outbox_schedules_a_new_flush_after_an_idle_spell() -> None:
    log: list[str] = []
    outbox = Outbox()
    first, second = Conn("first", log), Conn("second", log)
    outbox.add(first)
    await first.flushed.wait()
    outbox.add(second)
    await second.flushed.wait()
    assert log == ["first", "second"]
    assert first.flushes == second.flushes == 1
