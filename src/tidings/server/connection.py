"""One WebSocket connection: the asyncio side of ``tidings.session``.

The read loop hands each frame to the session and carries out what it returns. Writes of
broadcasts go straight to the transport (the hub frames once for everybody); this module is
the one place that knows how bytes reach a socket, so the stack can be swapped by measurement.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tidings.apps import App
from tidings.background import spawn
from tidings.events import HubEvent, HubEventKind
from tidings.protocol import messages
from tidings.protocol.channels import Kind, is_presence
from tidings.protocol.errors import Code, PusherError, SubscriptionError
from tidings.protocol.framing import text_frame
from tidings.server.context import Context
from tidings.session import ClientEvent, Command, Session, SignIn, Subscribe, Unsubscribe

log = logging.getLogger("tidings.connection")
CLOSE_HANDSHAKE_TIMEOUT = 3.0


class Connection:
    __slots__ = (
        "_limit",
        "_pending",
        "app",
        "closing",
        "ctx",
        "last_seen",
        "opened_at",
        "pinged_at",
        "session",
        "socket_id",
        "transport",
        "ws",
    )

    def __init__(
        self, ctx: Context, ws: web.WebSocketResponse, transport: asyncio.Transport, app: App
    ) -> None:
        self.ctx = ctx
        self.ws = ws
        self.transport = transport
        self.app = app
        self.socket_id = ctx.socket_ids.next()
        self.session = Session(app, self.socket_id)
        now = asyncio.get_running_loop().time()
        self.opened_at = now
        self.last_seen = now
        self.pinged_at: float | None = None
        self.closing = False
        self._limit = ctx.config.server.send_buffer_limit
        self._pending: bytes | list[bytes] | None = None

    # -- writing ------------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Queue one pre-framed message; the outbox writes this socket's queue once per loop
        iteration (see ``tidings.server.outbox``). No syscall, no task, no await here."""
        if self.closing:
            return
        pending = self._pending
        if pending is None:
            # A lone frame stays bare bytes: a list per subscriber per event would be a
            # GC-tracked allocation per delivery, and collections show up as latency spikes.
            self._pending = frame
            self.ctx.outbox.add(self)
        elif isinstance(pending, bytes):
            self._pending = [pending, frame]
        else:
            pending.append(frame)

    def flush(self) -> None:
        """Write what is queued. Frames queued before a close still go out, ahead of the close
        frame. Past the buffer bound the consumer is too slow: close it with 4100 so pusher-js
        reconnects after a pause, rather than let its queue grow."""
        pending, self._pending = self._pending, None
        transport = self.transport
        if pending is None or transport.is_closing():
            # The peer vanished and our read loop has not noticed yet; uvloop raises on a write.
            return
        if transport.get_write_buffer_size() > self._limit:
            self.close(Code.OVER_CAPACITY, "Send buffer full: the client is reading too slowly")
            return
        transport.write(pending if isinstance(pending, bytes) else b"".join(pending))

    def reply(self, payload: bytes) -> None:
        self.send(text_frame(payload))

    def close(self, code: int, reason: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        spawn(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            # A peer that stopped reading never drains the close frame; without a bound this
            # waits forever and the socket, its subscriptions and presence entries stay.
            async with asyncio.timeout(CLOSE_HANDSHAKE_TIMEOUT):
                await self.ws.close(code=code, message=reason.encode()[:123])
        except Exception:  # the peer may already be gone; closing is best effort
            self.transport.abort()

    def terminate(self, code: int, message: str) -> None:
        self.reply(messages.error(Code(code), message))
        self.close(code, message)

    # -- reading ------------------------------------------------------------------------------
    async def run(self) -> None:
        self.reply(
            messages.connection_established(self.socket_id, self.ctx.config.server.activity_timeout)
        )
        loop = asyncio.get_running_loop()
        async for message in self.ws:
            self.last_seen = loop.time()
            self.pinged_at = None
            if message.type is WSMsgType.TEXT:
                await self.receive(message.data, self.last_seen)
            elif message.type is WSMsgType.BINARY:
                self.reply(messages.error(None, "Binary frames are not supported; send text JSON"))
        exception = self.ws.exception()
        if exception is not None:
            log.info("socket %s closed on error: %s", self.socket_id, exception)

    async def receive(self, text: str, now: float) -> None:
        try:
            command = self.session.receive(text, now)
            await self.execute(command)
        except PusherError as error:
            self.reply(messages.error(error.code, error.message))
            if error.close and error.code is not None:
                self.close(error.code, error.message)
        except SubscriptionError as error:
            self.reply(
                messages.subscription_error(error.channel, error.kind, error.message, error.status)
            )
        except Exception:  # a server fault must cost this frame, not the connection
            log.exception("socket %s: failed to handle a frame", self.socket_id)
            self.reply(messages.error(None, "Internal server error while handling the message"))

    async def execute(self, command: Command) -> None:
        if command is None:
            return
        if isinstance(command, bytes):
            self.reply(command)
        elif isinstance(command, Subscribe):
            await self.subscribe(command)
        elif isinstance(command, Unsubscribe):
            adapter = self.ctx.adapter
            count = await adapter.unsubscribe(self, command.channel, command.member)
            self.subscription_count_changed(command.channel, count)
        elif isinstance(command, ClientEvent):
            await self.client_event(command)
        elif isinstance(command, SignIn):
            await self.sign_in(command)

    async def subscribe(self, command: Subscribe) -> None:
        channel, app = command.channel, self.app
        if command.type.kind is Kind.SERVER_TO_USER:
            self.reply(messages.subscription_succeeded(channel))
            return
        try:
            joined = await self.ctx.adapter.subscribe(self, channel, command.member)
        except SubscriptionError:
            self.session.forget(channel)
            raise
        presence = None if joined.members is None else messages.presence_snapshot(joined.members)
        self.reply(messages.subscription_succeeded(channel, presence))
        if command.type.cached:
            cached = await self.ctx.adapter.cache_get(app.id, channel)
            if cached is not None:
                self.reply(cached[0])
            else:
                self.reply(messages.cache_miss(channel))
                self.ctx.bus.emit(HubEvent(HubEventKind.CACHE_MISS, app.id, channel))
        if not command.type.is_presence:
            self.subscription_count_changed(channel, joined.subscription_count)

    def subscription_count_changed(self, channel: str, count: int) -> None:
        if self.app.enable_subscription_count and not is_presence(channel):
            self.ctx.subscription_counts.changed(self.app, channel, count)

    async def client_event(self, command: ClientEvent) -> None:
        payload = messages.event(command.event, command.channel, command.data, command.user_id)
        await self.ctx.adapter.publish(self.app.id, command.channel, payload, self.socket_id)
        bus = self.ctx.bus
        if bus.observed:
            data = command.data
            bus.emit(
                HubEvent(
                    HubEventKind.CLIENT_EVENT,
                    self.app.id,
                    command.channel,
                    user_id=command.user_id,
                    event=command.event,
                    data=data if isinstance(data, str) else orjson.dumps(data).decode(),
                    socket_id=self.socket_id,
                )
            )

    async def sign_in(self, command: SignIn) -> None:
        user = command.user
        online = await self.ctx.adapter.sign_in(self, user.id, user.watchlist)
        self.reply(messages.signin_success(command.user_data))
        if command.dropped_watchlist:
            self.reply(
                messages.error(
                    Code.WATCHLIST_LIMIT,
                    f"The watchlist is limited to 100 users; {command.dropped_watchlist} ignored",
                )
            )
        if online:
            events: list[dict[str, Any]] = []
            for name, state in (("online", True), ("offline", False)):
                ids = [uid for uid, is_online in online.items() if is_online is state]
                if ids:
                    events.append({"name": name, "user_ids": ids})
            self.reply(messages.watchlist_events(events))

    async def cleanup(self) -> None:
        self.closing = True
        session = self.session
        await self.ctx.adapter.remove_connection(
            self, session.subscriptions, session.user.id if session.user else None
        )
        for channel in session.subscriptions:
            if not is_presence(channel) and self.app.enable_subscription_count:
                stats = await self.ctx.adapter.channel(self.app.id, channel)
                self.ctx.subscription_counts.changed(self.app, channel, stats.subscription_count)
