"""What a connection does for each command of its session: one function each, run in order by
``Connection`` (which queues them), against the hub."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from tidings.events import ActivityKind, HubEvent, HubEventKind, Published
from tidings.protocol import messages
from tidings.protocol.channels import Kind, is_presence
from tidings.protocol.errors import Code, PusherError, SubscriptionError
from tidings.session import ClientEvent, Replay, SignIn, Subscribe, Unsubscribe
from tidings.unavailable import HubUnavailable

if TYPE_CHECKING:
    from tidings.server.connection import Connection


async def subscribe(conn: Connection, command: Subscribe) -> None:
    channel, app, ctx = command.channel, conn.app, conn.ctx
    if command.type.kind is Kind.SERVER_TO_USER:
        conn.reply(messages.subscription_succeeded(channel))
        if ctx.bus.activity:
            conn.tell(ActivityKind.SUBSCRIBED, channel)
        return
    try:
        joined = await ctx.adapter.subscribe(conn, channel, command.member)
    except SubscriptionError:
        conn.session.forget(channel)
        raise
    presence = None if joined.members is None else messages.presence_snapshot(joined.members)
    succeeded = messages.subscription_succeeded(channel, presence)
    rule = app.history_rule(channel) if app.history else None
    if rule is not None:  # where the history stands: what tidings-recovery resumes from
        with contextlib.suppress(HubUnavailable):  # then subscribed all the same, unstamped
            page = await ctx.adapter.history(app.id, channel, rule, 0, 0)
            succeeded = messages.stamped(succeeded, page.last, page.epoch)
    conn.reply(succeeded)
    if ctx.bus.activity:
        conn.tell(ActivityKind.SUBSCRIBED, channel)
    if command.type.cached:
        cached = await ctx.adapter.cache_get(app.id, channel)
        if cached is not None:
            conn.reply(cached[0])
        else:
            conn.reply(messages.cache_miss(channel))
            ctx.bus.emit(HubEvent(HubEventKind.CACHE_MISS, app.id, channel))
    if not command.type.is_presence:
        subscription_count_changed(conn, channel, joined.subscription_count)


async def unsubscribe(conn: Connection, command: Unsubscribe) -> None:
    count = await conn.ctx.adapter.unsubscribe(conn, command.channel, command.member)
    subscription_count_changed(conn, command.channel, count)
    if conn.ctx.bus.activity:
        conn.tell(ActivityKind.UNSUBSCRIBED, command.channel)


def subscription_count_changed(conn: Connection, channel: str, count: int) -> None:
    if conn.app.enable_subscription_count and not is_presence(channel):
        conn.ctx.subscription_counts.changed(conn.app, channel, count)


async def client_event(conn: Connection, command: ClientEvent) -> None:
    conn.figures.client_events += 1
    payload = messages.event(command.event, command.channel, command.data, command.user_id)
    app, ctx = conn.app, conn.ctx
    rule = app.history_rule(command.channel) if app.history else None
    if rule is None:
        await ctx.adapter.publish(app.id, command.channel, payload, conn.socket_id)
    else:
        await ctx.adapter.publish_history(app.id, command.channel, rule, payload, conn.socket_id)
    observers = ctx.publish_observers
    if observers:  # tidings.testing
        published = Published(
            app.id,
            command.channel,
            command.event,
            command.data,
            conn.socket_id,
            command.user_id,
            from_client=True,
        )
        for observer in observers:
            observer(published)
    bus = ctx.bus
    if bus.observed:
        data = command.data
        bus.emit(
            HubEvent(
                HubEventKind.CLIENT_EVENT,
                app.id,
                command.channel,
                user_id=command.user_id,
                event=command.event,
                data=data if isinstance(data, str) else orjson.dumps(data).decode(),
                socket_id=conn.socket_id,
            )
        )


async def replay(conn: Connection, command: Replay) -> None:
    """The kept events after the client's serial, as delivered, then where it stands."""
    channel, rule = command.channel, command.rule
    try:
        page = await conn.ctx.adapter.history(
            conn.app.id, channel, rule, command.after, rule.max_events, command.epoch
        )
    except HubUnavailable:
        raise PusherError(
            Code.REPLAY_REJECTED,
            f"The history of {channel} is out of reach right now; replay again shortly",
            channel=channel,
        ) from None
    for entry in page.entries:
        if entry.sender != conn.socket_id:  # pusher-js never shows a client its own events
            conn.reply(entry.payload)
    conn.reply(messages.replay_done(channel, page.epoch, page.last, page.complete))


async def sign_in(conn: Connection, command: SignIn) -> None:
    user = command.user
    online = await conn.ctx.adapter.sign_in(conn, user.id, user.watchlist)
    conn.reply(messages.signin_success(command.user_data))
    if command.dropped_watchlist:
        conn.reply(
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
        conn.reply(messages.watchlist_events(events))


_HANDLERS: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
    Subscribe: subscribe,
    Unsubscribe: unsubscribe,
    ClientEvent: client_event,
    SignIn: sign_in,
    Replay: replay,
}


def run(conn: Connection, command: Any) -> Awaitable[None]:
    return _HANDLERS[type(command)](conn, command)
