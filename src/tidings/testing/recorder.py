"""``tidings_events``: every event published on the server during a test, as it happens.

The server calls the recorder inline, in its own thread, right after an event went out to the
subscribers (``Context.publish_observers``); tests wait on the recording (``Arrivals``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from tidings.events import Published
from tidings.testing.arrivals import Arrivals


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
        self._events: Arrivals[PublishedEvent] = Arrivals()
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
        self._events.add((_record(published),))

    # -- the test's side ----------------------------------------------------------------------
    @property
    def events(self) -> list[PublishedEvent]:
        """Everything published since the test started, oldest first (a copy)."""
        return self._events.items()

    def on(self, channel: str, name: str | None = None) -> list[PublishedEvent]:
        """The events published on ``channel`` (with that ``name``), oldest first."""
        match = _matcher(channel, name)
        return [e for e in self.events if match(e)]

    def clear(self) -> None:
        self._events.clear()

    def wait_for(
        self, channel: str | None, name: str | None = None, timeout: float = 5.0
    ) -> PublishedEvent:
        """The first event on ``channel`` named ``name`` (None: any), published already or
        within ``timeout`` seconds; fails listing what was published instead. Blocks this
        thread: from a coroutine whose own loop does the publishing, use ``wait_for_async``."""
        missing = partial(self._missing, channel, name, timeout)
        return self._events.wait(_matcher(channel, name), timeout, missing)

    async def wait_for_async(
        self, channel: str | None, name: str | None = None, timeout: float = 5.0
    ) -> PublishedEvent:
        """``wait_for`` for asyncio tests: awaits without blocking the test's event loop."""
        missing = partial(self._missing, channel, name, timeout)
        return await self._events.wait_async(_matcher(channel, name), timeout, missing)

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


def _listing(events: list[PublishedEvent], limit: int = 20) -> str:
    lines = [f"  {e.channel!r} {e.name!r} {_short(e.raw)}" for e in events[:limit]]
    if len(events) > limit:
        lines.append(f"  ... and {len(events) - limit} more")
    return "\n".join(lines)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
