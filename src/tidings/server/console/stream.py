"""``/console/stream``: one open console page's live feed, over a WebSocket of its own.

The page names its app (``?app=``) and may send ``{"filter": {...}}``. News is observed inline
(``EventBus.activity`` and ``Context.publish_observers``, attached only while a console is
open), kept in a bounded buffer and written at most every ``FLUSH_INTERVAL``: a browser that
reads too slowly loses news (counted and reported), never slows fan-out or grows our memory.
Figures (connections, occupied channels) go out every ``STATS_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TypeVar

import orjson

from tidings.apps import App
from tidings.events import Activity, Published
from tidings.hub import HubUnavailable
from tidings.net.http import Socket, SocketHandler
from tidings.server.console.access import ConsoleAccess, presented_token
from tidings.server.console.buffer import DropBuffer
from tidings.server.console.filters import ActivityFilter, News
from tidings.server.console.wire import activity_frame, message_frame, stats_frame
from tidings.server.context import Context

log = logging.getLogger("tidings.console")

BUFFER_CAPACITY = 1000  # news items waiting for one page
FLUSH_INTERVAL = 0.05
STATS_INTERVAL = 1.0
CHANNELS_SHOWN = 500
# Bytes the page has not read yet past which nothing more is written to it.
SOCKET_BACKLOG = 256 * 1024
# Each open console is called inline with all news: a few are plenty.
MAX_STREAMS = 16
# Close codes the page explains (4000-4999: the application's own range).
UNAUTHORIZED, NOT_FOUND, BAD_ORIGIN, TOO_MANY = 4401, 4404, 4403, 4429
T = TypeVar("T")


class _Closed:
    def message(self, text: str) -> None:
        pass

    def binary(self, data: bytes) -> None:
        pass

    def closed(self) -> None:
        pass


def open_stream(
    ctx: Context,
    access: ConsoleAccess,
    streams: set[ConsoleStream],
    headers: Mapping[str, str],
    query: Mapping[str, str],
    socket: Socket,
) -> SocketHandler:
    refusal = access.refusal(presented_token(headers, query))
    app = access.app(query.get("app", "")) if refusal is None else None
    if refusal == 401:
        log.warning(
            "console refused: the token is missing or wrong, from %s", socket.peer(),
            extra={"remote": socket.peer()},
        )  # fmt: skip
        socket.close(UNAUTHORIZED, "The console token is missing or wrong")
    elif not _same_origin(headers):
        socket.close(BAD_ORIGIN, "The console stream is only for pages of this server")
    elif app is None:
        socket.close(NOT_FOUND, "No such app in this console")
    elif len(streams) >= MAX_STREAMS:
        socket.close(TOO_MANY, f"{MAX_STREAMS} consoles are open already; close one")
    else:
        stream = ConsoleStream(ctx, app, socket, streams)
        stream.open()
        return stream
    return _Closed()


def _same_origin(headers: Mapping[str, str]) -> bool:
    """A page of another site must not read the stream with the developer's browser."""
    origin = headers.get("origin")
    if origin is None:  # not a browser: it had to present the token, if there is one
        return True
    return origin.partition("://")[2] == headers.get("host", "")


class ConsoleStream:
    def __init__(
        self, ctx: Context, app: App, socket: Socket, streams: set[ConsoleStream] | None = None
    ) -> None:
        self.ctx = ctx
        self.socket = socket
        self._streams: set[ConsoleStream] = set() if streams is None else streams
        self.filter = ActivityFilter(app.id)
        self.buffer: DropBuffer[tuple[float, News]] = DropBuffer(BUFFER_CAPACITY)
        self._loop = asyncio.get_running_loop()
        self._flush_at: asyncio.TimerHandle | None = None
        self._stats: asyncio.Task[None] | None = None
        # Bound once: the same objects are removed from the observer lists on close.
        self._on_activity = self._observe
        self._on_published = self._observe
        self._sent = self._dropped = 0  # for the log line at the end

    def open(self) -> None:
        log.info(
            "console opened: app %s, from %s", self.filter.app_id, self.socket.peer(),
            extra={"app_id": self.filter.app_id, "remote": self.socket.peer()},
        )  # fmt: skip
        self._streams.add(self)
        self.ctx.bus.activity.append(self._on_activity)
        self.ctx.publish_observers.append(self._on_published)
        self._stats = self._loop.create_task(self._send_stats())

    # -- observing (inline, from fan-out: only a filter test and an append) -------------------
    def _observe(self, news: Activity | Published) -> None:
        if not self.filter.matches(news):
            return
        self.buffer.add((time.time(), news))
        if self._flush_at is None:
            self._flush_at = self._loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        """Write what waits, unless the page is behind; then try again a little later."""
        if self._flush_at is not None:  # called early: the timer is not needed any more
            self._flush_at.cancel()
            self._flush_at = None
        socket = self.socket
        if socket.is_closing():
            return
        if socket.buffer_size() > SOCKET_BACKLOG:  # the page is behind: let the buffer fill
            self._flush_at = self._loop.call_later(FLUSH_INTERVAL, self.flush)
            return
        news, dropped = self.buffer.take()
        if news or dropped:
            socket.write(activity_frame(news, dropped))
            self._sent += len(news)
            self._dropped += dropped

    async def _send_stats(self) -> None:
        while not self.socket.is_closing():
            try:
                frame = await self._stats_frame()
            except HubUnavailable as error:
                frame = message_frame("error", f"Channels unavailable: {error}")
            except Exception:  # a fault of ours costs this figure, not the console
                log.exception("console: could not gather the figures")
                frame = message_frame("error", "Internal error while gathering the figures")
            socket = self.socket
            if not socket.is_closing() and socket.buffer_size() <= SOCKET_BACKLOG:
                socket.write(frame)
            await asyncio.sleep(STATS_INTERVAL)

    async def _stats_frame(self) -> bytes:
        app_id = self.filter.app_id
        channels = await self.ctx.adapter.channels(app_id)
        # This node's sockets: with workers or a cluster, each node counts its own.
        here = sum(1 for conn in self.ctx.connections.values() if conn.app.id == app_id)
        return stats_frame(here, channels, CHANNELS_SHOWN)

    # -- the page's side ----------------------------------------------------------------------
    def message(self, text: str) -> None:
        if self.socket.is_closing():  # nothing may follow our close frame
            return
        try:
            request = orjson.loads(text)
            if not isinstance(request, dict) or "filter" not in request:
                raise ValueError('send {"filter": {"prefix": "...", "kinds": [...]}}')
            self.filter = self.filter.changed(request["filter"])
        except ValueError as error:  # orjson.JSONDecodeError is one too
            self.socket.write(message_frame("error", str(error)))
            return
        self.socket.write(message_frame("filter", "applied"))

    def binary(self, data: bytes) -> None:
        if not self.socket.is_closing():
            self.socket.write(message_frame("error", "Send text JSON"))

    def closed(self) -> None:
        self._streams.discard(self)
        self._forget(self.ctx.bus.activity, self._on_activity)
        self._forget(self.ctx.publish_observers, self._on_published)
        if self._flush_at is not None:
            self._flush_at.cancel()
        if self._stats is not None:
            self._stats.cancel()
        _, dropped = self.buffer.take()
        self._dropped += dropped
        log.info(
            "console closed: app %s, from %s, %d events sent, %d dropped",
            self.filter.app_id, self.socket.peer(), self._sent, self._dropped,
            extra={
                "app_id": self.filter.app_id,
                "remote": self.socket.peer(),
                "sent": self._sent,
                "dropped": self._dropped,
            },
        )  # fmt: skip

    @staticmethod
    def _forget(observers: list[T], observer: T) -> None:
        # tidings.testing may have swapped its lists since: this one is then already gone.
        if observer in observers:
            observers.remove(observer)
