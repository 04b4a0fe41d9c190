"""Validating and publishing triggered events, shared by ``events`` and ``batch_events``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.apps import App
from tidings.events import Published, PublishObserver
from tidings.hub.base import Outgoing
from tidings.protocol import messages
from tidings.protocol.channels import (
    SERVER_TO_USER_PREFIX,
    Kind,
    channel_name_problem,
    channel_type,
    is_socket_id,
)
from tidings.protocol.errors import ApiError
from tidings.server.context import Context

INFO_ATTRIBUTES = {"user_count", "subscription_count"}


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class Trigger:
    name: str
    channels: tuple[str, ...]
    data: str
    socket_id: str | None
    info: tuple[str, ...]


def parse_trigger(app: App, item: dict[str, Any], *, single_channel: bool = False) -> Trigger:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'name' is required: the event name, a non-empty string")
    if len(name) > app.max_event_name_length:
        raise ApiError(400, f"Event name is longer than {app.max_event_name_length} characters")
    if "data" not in item:
        raise ApiError(400, "'data' is required: the event payload, a string")
    data = item["data"]
    if not isinstance(data, str):  # SDKs send strings; be kind to hand-made requests
        if messages.json_size(data) is None:
            raise ApiError(400, "'data' is nested too deeply; send it as a string")
        data = orjson.dumps(data).decode()
    size = len(data) if data.isascii() else len(data.encode())
    if size > app.max_event_payload_bytes:
        raise ApiError(
            413,
            f"The data content of this event exceeds the allowed maximum "
            f"({app.max_event_payload_bytes} bytes); it is {size} bytes.",
        )
    channels = _channels(app, item, single_channel)
    socket_id = item.get("socket_id")
    if socket_id is not None and not is_socket_id(socket_id):
        raise ApiError(400, f"Invalid socket_id {socket_id!r}: expected digits.digits")
    info = item.get("info")
    return Trigger(name, channels, data, socket_id, () if info is None else _info(info))


def _channels(app: App, item: dict[str, Any], single_channel: bool) -> tuple[str, ...]:
    if "channels" in item and not single_channel:
        channels = item["channels"]
        if not isinstance(channels, list) or not channels:
            raise ApiError(400, "'channels' must be a non-empty list of channel names")
    elif "channel" in item:
        channels = [item["channel"]]
    else:
        field = "'channel'" if single_channel else "'channels' (or 'channel')"
        raise ApiError(400, f"{field} is required")
    if len(channels) > app.max_event_channels_at_once:
        raise ApiError(
            400, f"An event can go to at most {app.max_event_channels_at_once} channels at once"
        )
    for channel in channels:
        problem = channel_name_problem(channel, app.max_channel_name_length)
        if problem:
            raise ApiError(400, problem)
    if len(channels) > 1 and any(channel_type(c).kind is Kind.ENCRYPTED for c in channels):
        raise ApiError(400, "An event for an encrypted channel must go to that channel alone")
    return tuple(channels)


def _info(raw: object) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, str):
        raise ApiError(400, "'info' must be a comma-separated string")
    attributes = tuple(a.strip() for a in raw.split(","))
    unknown = [a for a in attributes if a not in INFO_ATTRIBUTES]
    if unknown:
        raise ApiError(
            400,
            f"Unknown info attribute(s) {', '.join(unknown)}; "
            "use user_count and/or subscription_count",
        )
    return attributes


async def publish(ctx: Context, app: App, triggers: list[Trigger], *, first_counted: bool) -> None:
    """Publish every event of a request in one go (one Redis round trip on a cluster).

    ``first_counted``: the caller is an API endpoint, whose 200 counts the request's first
    event (``AppFigures.api_events``); only the others are counted here."""
    adapter = ctx.adapter
    outgoing: list[Outgoing] = []
    events = 0
    for trigger in triggers:
        events += len(trigger.channels)
        for channel in trigger.channels:
            payload = messages.event(trigger.name, channel, trigger.data)
            if channel.startswith(SERVER_TO_USER_PREFIX):
                user_id = channel[len(SERVER_TO_USER_PREFIX) :]
                await adapter.send_to_user(app.id, user_id, payload)
                continue
            outgoing.append((channel, payload, trigger.socket_id))
    if app.history:  # one branch for apps that keep none
        await adapter.publish_many(app.id, await _publish_history(ctx, app, outgoing))
    else:
        await adapter.publish_many(app.id, outgoing)
    uncounted = events - 1 if first_counted else events
    if uncounted:
        ctx.figures.app(app.id).extra_api_events += uncounted
    for channel, payload, _ in outgoing:
        if channel_type(channel).cached:
            await adapter.cache_set(app.id, channel, payload, app.cache_ttl)
    observers = ctx.publish_observers
    if observers:  # tidings.testing; nothing is built for a server nobody observes
        _tell(observers, app.id, triggers)


async def _publish_history(ctx: Context, app: App, outgoing: list[Outgoing]) -> list[Outgoing]:
    """Publish the events of history channels (each is kept, then delivered with its serial);
    returns the others."""
    rest: list[Outgoing] = []
    for channel, payload, skip in outgoing:
        rule = app.history_rule(channel)
        if rule is None:
            rest.append((channel, payload, skip))
        else:
            await ctx.adapter.publish_history(app.id, channel, rule, payload, skip)
    return rest


def _tell(observers: list[PublishObserver], app_id: str, triggers: list[Trigger]) -> None:
    for trigger in triggers:
        for channel in trigger.channels:
            published = Published(app_id, channel, trigger.name, trigger.data, trigger.socket_id)
            for observer in observers:
                observer(published)


async def channel_info(ctx: Context, app: App, trigger: Trigger) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for channel in trigger.channels:
        stats = await ctx.adapter.channel(app.id, channel)
        attributes: dict[str, int] = {}
        if "user_count" in trigger.info and stats.user_count is not None:
            attributes["user_count"] = stats.user_count
        if "subscription_count" in trigger.info:
            attributes["subscription_count"] = stats.subscription_count
        result[channel] = attributes
    return result
