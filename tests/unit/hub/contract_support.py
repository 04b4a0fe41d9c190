"""Fakes and waits for the Adapter contract suite (test_contract.py), shared by every driver.

``Socket`` records the frames a hub writes to it and its terminate() calls; ``Recorder`` keeps
the HubEvents a bus emits; ``until`` waits for a condition (deliveries through Redis pub/sub
arrive on a later event-loop turn) and ``settle`` waits until everything already published has
reached an adapter's sockets, so "nothing more arrived" is a real assertion, not a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.apps import App
from tidings.events import EventBus, HubEvent
from tidings.hub.base import Adapter

_socket_ids = itertools.count(1)

# The app of settle()'s probe sockets; Recorder ignores its events.
PROBE = App(id="probe", key="probe-key", secret="probe-secret")


def unframe(frame: bytes) -> bytes:
    """The payload of an unmasked RFC 6455 server text frame (2, 4 or 10 byte header)."""
    assert frame[0] == 0x81, f"not a final text frame: {frame[:2]!r}"
    assert not frame[1] & 0x80, "server frames are never masked"
    length = frame[1] & 0x7F
    if length < 126:
        header = 2
    elif length == 126:
        header, length = 4, int.from_bytes(frame[2:4], "big")
    else:
        header, length = 10, int.from_bytes(frame[2:10], "big")
    payload = frame[header:]
    assert len(payload) == length, "frame length does not match its header"
    return payload


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded Pusher message; ``data`` is decoded when it is a JSON string."""

    event: str
    channel: str | None
    data: Any


def decode(frame: bytes) -> Message:
    message = orjson.loads(unframe(frame))
    data = message.get("data")
    if isinstance(data, str):
        with contextlib.suppress(orjson.JSONDecodeError):  # event data is relayed as given
            data = orjson.loads(data)
    return Message(message["event"], message.get("channel"), data)


@dataclass(eq=False)
class Socket:
    """A Subscriber that records what the hub does to it."""

    app: App
    socket_id: str = field(default_factory=lambda: f"{next(_socket_ids)}.{next(_socket_ids)}")
    frames: list[bytes] = field(default_factory=list)
    terminations: list[tuple[int, str]] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def terminate(self, code: int, message: str) -> None:
        self.terminations.append((code, message))

    def messages(self) -> list[Message]:
        return [decode(frame) for frame in self.frames]

    def events(self) -> list[str]:
        return [message.event for message in self.messages()]

    def clear(self) -> None:
        self.frames.clear()


def name_of(event: HubEvent) -> str:
    """The webhook event name of a HubEvent."""
    return event.kind.value


def names(events: Iterable[HubEvent]) -> list[str]:
    return [name_of(event) for event in events]


class Recorder:
    """Every HubEvent a bus emits, in order (probe traffic left out)."""

    def __init__(self, bus: EventBus) -> None:
        self.seen: list[HubEvent] = []
        bus.subscribe(self._record)

    def _record(self, event: HubEvent) -> None:
        if event.app_id != PROBE.id:
            self.seen.append(event)

    def names(self) -> list[str]:
        return names(self.seen)

    def summary(self) -> list[tuple[str, str, str | None]]:
        """(name, channel, user_id) of each event."""
        return [(name_of(e), e.channel, e.user_id) for e in self.seen]

    def named(self, *wanted: str) -> list[HubEvent]:
        return [event for event in self.seen if name_of(event) in wanted]

    def clear(self) -> None:
        self.seen.clear()


Condition = Callable[[], object | Awaitable[object]]


async def until(condition: Condition, timeout: float = 2.0) -> None:
    """Wait until ``condition()`` (sync or async) is truthy, checking on each loop turn."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for turn in itertools.count():
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        # A few bare turns first (enough for an in-process delivery), then short naps so a
        # pub/sub round trip is not a busy loop.
        await asyncio.sleep(0 if turn < 20 else 0.002)


async def settle(*adapters: Adapter) -> None:
    """Wait until every message published so far has reached these adapters' sockets.

    A probe socket subscribes on each adapter and asks for its channel's subscription count:
    a shared driver sends that through its pub/sub like everything else, so once the probe has
    it, whatever was published earlier has been delivered too.
    """
    for adapter in adapters:
        await _probe(adapter)


async def _probe(adapter: Adapter) -> None:
    probe = Socket(PROBE)
    channel = f"probe-{probe.socket_id}"
    await adapter.subscribe(probe, channel, None)
    await adapter.announce_subscription_count(PROBE.id, channel)
    await until(lambda: probe.frames)
    await adapter.unsubscribe(probe, channel, None)
