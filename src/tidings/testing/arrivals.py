"""Things the server's thread records and a test waits for, from any thread or event loop.

Both recorders (published events, received webhooks) wait the same way: on a condition the
recording wakes (synchronous tests), or on a future it resolves in the test's own loop (asyncio
tests). A test waits exactly as long as the thing takes to arrive, never for a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
Match = Callable[[T], bool]


class Arrivals(Generic[T]):
    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()  # an RLock: ``missing`` may read ``items()``
        self._waiters: list[tuple[Match[T], asyncio.AbstractEventLoop, asyncio.Future[T]]] = []

    def add(self, new: Iterable[T]) -> None:
        """Record ``new`` (the server's thread) and wake whoever waits for one of them."""
        new = list(new)
        woken: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[T], T]] = []
        with self._changed:
            self._items.extend(new)
            self._changed.notify_all()
            remaining = []
            for waiter in self._waiters:
                match, loop, future = waiter
                found = next((item for item in new if match(item)), None)
                if found is None:
                    remaining.append(waiter)
                else:
                    woken.append((loop, future, found))
            self._waiters = remaining
        for loop, future, item in woken:
            with contextlib.suppress(RuntimeError):  # that test's loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future, item)

    def items(self) -> list[T]:
        """Everything recorded, oldest first (a copy)."""
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        with self._changed:
            self._items.clear()

    def wait(self, match: Match[T], timeout: float, missing: Callable[[], str]) -> T:
        """The first item that ``match``es, recorded already or within ``timeout`` seconds;
        else AssertionError(``missing()``). Blocks the calling thread."""
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = 0
            while True:
                seen = min(seen, len(self._items))  # clear() may have run meanwhile
                for item in self._items[seen:]:
                    if match(item):
                        return item
                seen = len(self._items)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(missing())
                self._changed.wait(left)

    async def wait_async(self, match: Match[T], timeout: float, missing: Callable[[], str]) -> T:
        """``wait`` without blocking the test's event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._changed:
            found = next((item for item in self._items if match(item)), None)
            if found is not None:
                return found
            waiter = (match, loop, future)
            self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(missing()) from None
        finally:
            with self._changed:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


def _resolve(future: asyncio.Future[T], item: T) -> None:
    if not future.done():
        future.set_result(item)
