"""One Pusher connection: runs the session's commands against the hub, knows no socket library.

The network layer hands over complete text messages and writes through a small ``Socket``
interface. A message that needs nothing from the hub (ping, a refused event) is answered at
once; one that does (subscribe, client event, sign-in) runs in a task, and messages arriving
meanwhile wait their turn, so a connection's commands always run in order and an idle one holds
no task. Broadcast frames are queued and written once per loop iteration (``outbox``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import orjson

from tidings.apps import App
from tidings.background import start
from tidings.events import Activity, ActivityKind, HubEvent, HubEventKind, Published, tell
from tidings.metrics.figures import ABRUPT
from tidings.net.http import Socket
from tidings.protocol import messages
from tidings.protocol.channels import Kind, is_presence
from tidings.protocol.errors import Code, PusherError, RateLimited, SubscriptionError
from tidings.protocol.framing import text_frame
from tidings.server import logs
from tidings.server.context import Context
from tidings.session import (
    ClientEvent,
    Command,
    Replay,
    Session,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from tidings.unavailable import HubUnavailable

log = logging.getLogger("tidings.connection")
# Messages waiting behind a running command; past this the socket stops being read.
MAX_BACKLOG = 64
_CLOSED = object()  # queued after the last message: clean up once earlier commands are done
_BUSY: tuple[()] = ()  # a command runs and nothing waits behind it yet


class Connection:
    __slots__ = (
        "_backlog",
        "_limit",
        "_pending",
        "admitted",
        "app",
        "closing",
        "ctx",
        "figures",
        "last_seen",
        "opened_at",
        "pinged_at",
        "remote",
        "session",
        "socket",
        "socket_id",
    )

    def __init__(self, ctx: Context, socket: Socket, app: App, remote: str = "") -> None:
        self.ctx = ctx
        self.socket = socket
        self.app = app
        self.figures = ctx.figures.app(app.id)
        self.remote = remote  # the client's address, for the log
        self.socket_id = ctx.socket_ids.next()
        self.session = Session(app, self.socket_id)
        now = asyncio.get_running_loop().time()
        self.opened_at = now
        self.last_seen = now
        self.pinged_at: float | None = None
        self.closing = False
        self.admitted = False
        self._limit = ctx.config.server.send_buffer_limit
        self._pending: bytes | list[bytes] | None = None
        # None when idle; else what waits behind the running command (admission first).
        self._backlog: deque[Any] | tuple[()] | None = _BUSY

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        self.ctx.connections[self.socket_id] = self
        self.figures.connections_opened += 1
        logs.opened(self)
        self._start(self._admit())

    def _start(self, first: Any) -> None:
        """Run ``first`` and then what queues behind it; eagerly when the hub never waits."""
        start(self._run(first), self.ctx.adapter.in_process)

    def _wait_behind(self, item: Any) -> None:
        backlog = self._backlog
        if backlog is None or backlog is _BUSY:
            backlog = self._backlog = deque()
        assert isinstance(backlog, deque)
        backlog.append(item)
        if len(backlog) > MAX_BACKLOG:
            self.socket.pause_reading()

    async def _admit(self) -> None:
        if not await self.ctx.adapter.add_connection(self):
            self.terminate(Code.OVER_CONNECTION_QUOTA, "Application is over connection quota")
            return
        self.admitted = True
        activity_timeout = self.ctx.config.server.activity_timeout
        self.reply(messages.connection_established(self.socket_id, activity_timeout))
        if self.ctx.bus.activity:
            self._tell(ActivityKind.CONNECTED)

    def closed(self) -> None:
        """The socket is gone: forget the connection once its running command is done."""
        self.closing = True
        if self._backlog is None:
            self._backlog = _BUSY
            self._start(self._cleanup())
        else:
            self._wait_behind(_CLOSED)

    async def _cleanup(self) -> None:
        # Listed in ctx.connections until the hub has forgotten it: a drain waits for that.
        try:
            if self.admitted:
                self.admitted = False
                if self.ctx.bus.activity:
                    self._tell(ActivityKind.DISCONNECTED, code=self.socket.close_code)
                await self._forget()
        finally:
            self.ctx.connections.pop(self.socket_id, None)
            code = self.socket.close_code
            self.figures.closed(code)
            logs.closed(self, code or ABRUPT, asyncio.get_running_loop().time() - self.opened_at)

    async def _forget(self) -> None:
        session, adapter = self.session, self.ctx.adapter
        await adapter.remove_connection(
            self, session.subscriptions, session.user.id if session.user else None
        )
        if self.app.enable_subscription_count:
            for channel in session.subscriptions:
                if not is_presence(channel):
                    stats = await adapter.channel(self.app.id, channel)
                    self.ctx.subscription_counts.changed(
                        self.app, channel, stats.subscription_count
                    )

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
        """Write what is queued. Past the buffer bound the consumer is too slow: close it with
        4100 so pusher-js reconnects after a pause, rather than let its queue grow."""
        pending, self._pending = self._pending, None
        socket = self.socket
        if pending is None or socket.is_closing():
            return
        if socket.buffer_size() > self._limit:
            self.figures.slow_consumers += 1
            logs.slow_consumer(self, self._limit)
            self.close(Code.OVER_CAPACITY, "Send buffer full: the client is reading too slowly")
            return
        socket.write(pending if isinstance(pending, bytes) else b"".join(pending))

    def reply(self, payload: bytes) -> None:
        frame = text_frame(payload)
        figures = self.figures
        figures.replies_sent += 1
        figures.reply_bytes_sent += len(frame)
        self.send(frame)

    def close(self, code: int, reason: str = "") -> None:
        """Frames queued before the close still go out, ahead of the close frame."""
        if self.closing:
            return
        if self._pending is not None and not self.socket.is_closing():
            self.flush()
        self.closing = True
        self.socket.close(code, reason)

    def terminate(self, code: int, message: str) -> None:
        self.reply(messages.error(Code(code), message))
        self.close(code, message)

    # -- reading ------------------------------------------------------------------------------
    def message(self, text: str) -> None:
        if self.closing:  # what a client sends after we said goodbye changes nothing
            return
        now = asyncio.get_running_loop().time()
        self.last_seen = now
        self.pinged_at = None
        figures = self.figures
        figures.messages_received += 1
        figures.bytes_received += len(text) if text.isascii() else len(text.encode())
        if self._backlog is not None:
            self._wait_behind((text, now))
            return
        command = self._decode(text, now)
        if command is None or isinstance(command, bytes):
            if command is not None:
                self.reply(command)
            return
        self._backlog = _BUSY
        self._start(self._execute(command))

    def binary(self, data: bytes) -> None:
        self.reply(messages.error(None, "Binary frames are not supported; send text JSON"))

    def _decode(self, text: str, now: float) -> Command:
        """The session's command for one message; protocol errors are answered here."""
        try:
            return self.session.receive(text, now)
        except Exception as error:
            self._refuse(error)
        return None

    def _refuse(self, error: Exception) -> None:
        """Answer a message that failed: the protocol's error, or ours."""
        if isinstance(error, PusherError):
            if isinstance(error, RateLimited):
                self.figures.client_events_rate_limited += 1
            self.reply(messages.error(error.code, error.message, error.channel))
            if error.close and error.code is not None:
                self.close(error.code, error.message)
        elif isinstance(error, SubscriptionError):
            self.figures.subscriptions_refused += 1
            logs.subscription_refused(self, error)
            self.reply(
                messages.subscription_error(error.channel, error.kind, error.message, error.status)
            )
            if self.ctx.bus.activity:
                refused = ActivityKind.SUBSCRIPTION_REFUSED
                self._tell(refused, error.channel, error.status, error.message)
        else:  # a server fault must cost this frame, not the connection
            log.error("socket %s: failed to handle a frame", self.socket_id, exc_info=error)
            self.reply(messages.error(None, "Internal server error while handling the message"))

    async def _run(self, first: Any) -> None:
        """Run ``first``, then whatever queued up behind it, in order; then go idle."""
        step: Any = first
        while step is not None:
            try:
                await step
            except Exception:  # one failed step must not wedge the connection's queue
                log.exception("socket %s: a command failed", self.socket_id)
            step = self._next_step()
        self._backlog = None

    def _next_step(self) -> Any:
        """The coroutine for the next queued item, or None when nothing waits."""
        while True:
            backlog = self._backlog
            if not backlog:
                return None
            assert isinstance(backlog, deque)
            item = backlog.popleft()
            if len(backlog) == MAX_BACKLOG:
                self.socket.resume_reading()
            if item is _CLOSED:
                return self._cleanup()
            text, now = item
            if not self.closing:
                command = self._decode(text, now)
                if command is not None:
                    return self._execute(command)

    async def _execute(self, command: Command) -> None:
        try:
            if isinstance(command, bytes):
                self.reply(command)
            elif isinstance(command, Subscribe):
                await self.subscribe(command)
            elif isinstance(command, Unsubscribe):
                adapter = self.ctx.adapter
                count = await adapter.unsubscribe(self, command.channel, command.member)
                self.subscription_count_changed(command.channel, count)
                if self.ctx.bus.activity:
                    self._tell(ActivityKind.UNSUBSCRIBED, command.channel)
            elif isinstance(command, ClientEvent):
                await self.client_event(command)
            elif isinstance(command, SignIn):
                await self.sign_in(command)
            elif isinstance(command, Replay):
                await self.replay(command)
        except Exception as error:
            self._refuse(error)

    # -- commands -----------------------------------------------------------------------------
    async def subscribe(self, command: Subscribe) -> None:
        channel, app = command.channel, self.app
        if command.type.kind is Kind.SERVER_TO_USER:
            self.reply(messages.subscription_succeeded(channel))
            if self.ctx.bus.activity:
                self._tell(ActivityKind.SUBSCRIBED, channel)
            return
        try:
            joined = await self.ctx.adapter.subscribe(self, channel, command.member)
        except SubscriptionError:
            self.session.forget(channel)
            raise
        presence = None if joined.members is None else messages.presence_snapshot(joined.members)
        succeeded = messages.subscription_succeeded(channel, presence)
        rule = app.history_rule(channel) if app.history else None
        if rule is not None:  # where the history stands: what tidings-recovery resumes from
            with contextlib.suppress(HubUnavailable):  # then subscribed all the same, unstamped
                page = await self.ctx.adapter.history(app.id, channel, rule, 0, 0)
                succeeded = messages.stamped(succeeded, page.last, page.epoch)
        self.reply(succeeded)
        if self.ctx.bus.activity:
            self._tell(ActivityKind.SUBSCRIBED, channel)
        if command.type.cached:
            cached = await self.ctx.adapter.cache_get(app.id, channel)
            if cached is not None:
                self.reply(cached[0])
            else:
                self.reply(messages.cache_miss(channel))
                self.ctx.bus.emit(HubEvent(HubEventKind.CACHE_MISS, app.id, channel))
        if not command.type.is_presence:
            self.subscription_count_changed(channel, joined.subscription_count)

    def _tell(
        self,
        kind: ActivityKind,
        channel: str | None = None,
        code: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Activity for the console; callers check ``bus.activity`` first, so an unobserved
        server builds nothing."""
        tell(
            self.ctx.bus.activity,
            Activity(kind, self.app.id, self.socket_id, channel, code, detail),
        )

    def subscription_count_changed(self, channel: str, count: int) -> None:
        if self.app.enable_subscription_count and not is_presence(channel):
            self.ctx.subscription_counts.changed(self.app, channel, count)

    async def client_event(self, command: ClientEvent) -> None:
        self.figures.client_events += 1
        payload = messages.event(command.event, command.channel, command.data, command.user_id)
        app, adapter = self.app, self.ctx.adapter
        rule = app.history_rule(command.channel) if app.history else None
        if rule is None:
            await adapter.publish(app.id, command.channel, payload, self.socket_id)
        else:
            await adapter.publish_history(app.id, command.channel, rule, payload, self.socket_id)
        observers = self.ctx.publish_observers
        if observers:  # tidings.testing
            published = Published(
                self.app.id,
                command.channel,
                command.event,
                command.data,
                self.socket_id,
                command.user_id,
                from_client=True,
            )
            for observer in observers:
                observer(published)
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

    async def replay(self, command: Replay) -> None:
        """The kept events after the client's serial, as delivered, then where it stands."""
        channel, rule = command.channel, command.rule
        try:
            page = await self.ctx.adapter.history(
                self.app.id, channel, rule, command.after, rule.max_events, command.epoch
            )
        except HubUnavailable:
            raise PusherError(
                Code.REPLAY_REJECTED,
                f"The history of {channel} is out of reach right now; replay again shortly",
                channel=channel,
            ) from None
        for entry in page.entries:
            if entry.sender != self.socket_id:  # pusher-js never shows a client its own events
                self.reply(entry.payload)
        self.reply(messages.replay_done(channel, page.epoch, page.last, page.complete))

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
