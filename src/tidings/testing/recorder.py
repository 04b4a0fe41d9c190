"""``tidings_events``: every event published on the server during a test, as it happens.

The server calls the recorder inline, in its own thread, right after an event went out to the
subscribers (``Context.publish_observers``). Waiting is on a condition variable (threads) or a
future (asyncio) that the recording wakes: a test waits exactly as long as the event takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.events import Published


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """One published event. ``data`` is decoded from JSON when it is JSON (what pusher-js
    hands to a bound callback); ``raw`` is the string as it was sent."""

    channel: str
    name: str
    data: Any
    socket_id: str | None  # excluded from delivery (triggers) or the sender (client events)
    user_id: str | None  # the sender of a client event on a presence channel
    raw: str
    client_event: bool  # sent by a client rather than through the HTTP API


def decode(raw: Any) -> tuple[Any, str]:
    """(value, text) of event data: a JSON string decoded when it is JSON, kept otherwise."""
    if not isinstance(raw, str):  # a client event's JSON value, already decoded
        return raw, orjson.dumps(raw).decode()
    try:
        return orjson.loads(raw), raw
    except orjson.JSONDecodeError:
        return raw, raw


def _record(published: Published) -> PublishedEvent:
    data, raw = decode(published.data)
    return PublishedEvent(
        channel=published.channel,
        name=published.event,
        data=data,
        socket_id=published.socket_id,
        user_id=published.user_id,
        raw=raw,
        client_event=published.from_client,
    )


Match = Callable[[PublishedEvent], bool]


def _matcher(channel: str | None, name: str | None) -> Match:
    return lambda e: (channel is None or e.channel == channel) and (name is None or e.name == name)


def _describe(channel: str | None, name: str | None) -> str:
    what = f"event {name!r}" if name is not None else "event"
    return f"{what} on {channel!r}" if channel is not None else f"{what} on any channel"


class EventRecorder:
    """What ``tidings_events`` is. Thread-safe: the server records, the test reads."""

    def __init__(self) -> None:
        self._events: list[PublishedEvent] = []
        self._changed = threading.Condition()
        self._waiters: list[tuple[Match, asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self._stop: Callable[[], None] | None = None

    def attach(self, observe: Callable[[Callable[[Published], None]], Callable[[], None]]) -> None:
        """Start recording through ``TidingsServer.observe``."""
        self._stop = observe(self.record)

    def detach(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    # -- the server's side (its thread) ----------------------------------------------------------
    def record(self, published: Published) -> None:
        event = _record(published)
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()
            waiters = self._waiters
            woken = [w for w in waiters if w[0](event)]
            if woken:
                self._waiters = [w for w in waiters if not w[0](event)]
        for _, loop, future in woken:
            with contextlib.suppress(RuntimeError):  # that test's loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future, event)

    # -- the test's side ----------------------------------------------------------------------
    @property
    def events(self) -> list[PublishedEvent]:
        """Everything published since the test started, oldest first (a copy)."""
        with self._changed:
            return list(self._events)

    def on(self, channel: str, name: str | None = None) -> list[PublishedEvent]:
        """The events published on ``channel`` (with that ``name``), oldest first."""
        match = _matcher(channel, name)
        return [e for e in self.events if match(e)]

    def clear(self) -> None:
        with self._changed:
            self._events.clear()

    def wait_for(
        self, channel: str | None, name: str | None = None, timeout: float = 5.0
    ) -> PublishedEvent:
        """The first event on ``channel`` named ``name`` (None: any), published already or
        within ``timeout`` seconds; fails listing what was published instead. Blocks this
        thread: from a coroutine whose own loop does the publishing, use ``wait_for_async``."""
        match = _matcher(channel, name)
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = 0
            while True:
                seen = min(seen, len(self._events))  # clear() may have run meanwhile
                for event in self._events[seen:]:
                    if match(event):
                        return event
                seen = len(self._events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(self._missing(channel, name, timeout))
                self._changed.wait(left)

    async def wait_for_async(
        self, channel: str | None, name: str | None = None, timeout: float = 5.0
    ) -> PublishedEvent:
        """``wait_for`` for asyncio tests: awaits without blocking the test's event loop."""
        match = _matcher(channel, name)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PublishedEvent] = loop.create_future()
        with self._changed:
            found = next((e for e in self._events if match(e)), None)
            if found is not None:
                return found
            waiter = (match, loop, future)
            self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(self._missing(channel, name, timeout)) from None
        finally:
            with self._changed:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def assert_nothing(self, channel: str | None = None, name: str | None = None) -> None:
        """Fail if anything (named ``name``) was published on ``channel`` (None: anywhere)
        since the test started. It checks what happened so far: call it after the code that
        must not publish has returned."""
        found = [e for e in self.events if _matcher(channel, name)(e)]
        if found:
            where = "anywhere" if channel is None else f"on {channel!r}"
            raise AssertionError(
                f"expected nothing published {where}, got {len(found)}:\n" + _listing(found)
            )

    def _missing(self, channel: str | None, name: str | None, timeout: float) -> str:
        events = self.events
        wanted = f"no {_describe(channel, name)} was published within {timeout:g} s"
        if not events:
            return f"{wanted}; nothing was published at all"
        return f"{wanted}; published instead:\n" + _listing(events)


def _resolve(future: asyncio.Future[PublishedEvent], event: PublishedEvent) -> None:
    if not future.done():
        future.set_result(event)


def _listing(events: list[PublishedEvent], limit: int = 20) -> str:
    lines = [f"  {e.channel!r} {e.name!r} {_short(e.raw)}" for e in events[:limit]]
    if len(events) > limit:
        lines.append(f"  ... and {len(events) - limit} more")
    return "\n".join(lines)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
