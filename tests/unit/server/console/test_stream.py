"""A console's feed against a real context, with a socket that only records what it is given
and can pretend the browser stopped reading."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tidings.config import load
from tidings.events import Activity, ActivityKind, Published, tell
from tidings.server.app import build_context
from tidings.server.console.stream import BUFFER_CAPACITY, SOCKET_BACKLOG, ConsoleStream
from tidings.server.context import Context


class RecordingSocket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.backlog = 0
        self.close_code: int | None = None
        self.written = asyncio.Event()

    def write(self, data: bytes) -> None:
        # An unmasked server text frame: the payload follows a 2, 4 or 10 byte header.
        length = data[1] & 0x7F
        start = 2 if length < 126 else 4 if length == 126 else 10
        self.frames.append(json.loads(data[start:]))
        self.written.set()

    def close(self, code: int, reason: str = "") -> None:
        self.close_code = code

    def abort(self) -> None:
        pass

    def buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return self.close_code is not None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def peer(self) -> str:
        return "127.0.0.1:5000"

    async def next_of(self, kind: str) -> dict[str, Any]:
        while True:
            for frame in self.frames:
                if frame["type"] == kind:
                    self.frames.remove(frame)
                    return frame
            self.written.clear()
            await asyncio.wait_for(self.written.wait(), 5)


def news(ctx: Context, channel: str, app_id: str = "1000") -> None:
    tell(ctx.bus.activity, Activity(ActivityKind.SUBSCRIBED, app_id, "1.1", channel))


async def open_console() -> tuple[Context, RecordingSocket, ConsoleStream]:
    ctx = build_context(load(env={}))
    socket = RecordingSocket()
    console = ConsoleStream(ctx, ctx.apps.all()[0], socket)
    console.open()
    await socket.next_of("stats")
    return ctx, socket, console


async def test_observers_are_there_only_while_a_console_is_open() -> None:
    ctx = build_context(load(env={}))
    assert ctx.bus.activity == [] and ctx.publish_observers == []
    socket = RecordingSocket()
    console = ConsoleStream(ctx, ctx.apps.all()[0], socket)

    console.open()
    assert len(ctx.bus.activity) == 1 and len(ctx.publish_observers) == 1
    console.closed()

    assert ctx.bus.activity == [] and ctx.publish_observers == []


async def test_news_of_its_app_goes_out_together() -> None:
    ctx, socket, console = await open_console()

    news(ctx, "one")
    news(ctx, "elsewhere", app_id="other")
    for observer in ctx.publish_observers:
        observer(Published("1000", "two", "my-event", '{"a":1}', None))

    sent = await socket.next_of("activity")
    assert [(e["kind"], e["channel"]) for e in sent["events"]] == [
        ("subscribed", "one"),
        ("api_message", "two"),
    ]
    assert sent["events"][1]["data"] == '{"a":1}' and sent["dropped"] == 0
    console.closed()


async def test_a_page_reading_too_slowly_loses_news_and_is_told_how_much() -> None:
    ctx, socket, console = await open_console()
    socket.backlog = SOCKET_BACKLOG + 1  # the browser stopped reading

    for index in range(BUFFER_CAPACITY + 25):
        news(ctx, f"c{index}")
    console.flush()  # what the timer does: nothing goes out while the page is behind

    assert [f for f in socket.frames if f["type"] == "activity"] == []
    assert len(console.buffer) == BUFFER_CAPACITY
    socket.backlog = 0  # it caught up
    sent = await socket.next_of("activity")

    assert len(sent["events"]) == BUFFER_CAPACITY and sent["dropped"] == 25
    assert sent["events"][0]["channel"] == "c0"
    console.closed()


async def test_a_filter_from_the_page_applies_and_a_bad_one_is_answered() -> None:
    ctx, socket, console = await open_console()

    console.message(json.dumps({"filter": {"prefix": "private-"}}))
    assert (await socket.next_of("filter"))["message"] == "applied"
    news(ctx, "public")
    news(ctx, "private-chat")
    sent = await socket.next_of("activity")
    assert [e["channel"] for e in sent["events"]] == ["private-chat"]

    for bad in ("not json", "[]", '{"filter": {"kinds": ["gossip"]}}'):
        console.message(bad)
        assert (await socket.next_of("error"))["message"]
    console.binary(b"\x00")
    assert (await socket.next_of("error"))["message"] == "Send text JSON"
    assert console.filter.prefix == "private-"  # a bad one changes nothing
    console.closed()
