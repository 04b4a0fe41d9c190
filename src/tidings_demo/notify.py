"""Sending events through the official ``pusher`` SDK, as the guide's backend does.

A fresh client per send mirrors the guide ("initialize Pusher inside functions/steps, not at
module level"); the SDK is blocking, so its HTTP call runs in a worker thread and never stalls
the event loop (which, in ``tidings demo``, also runs tidings itself).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pusher
import pusher.errors

from tidings_demo.config import DemoConfig

# Pusher's documented rules: these characters only, at most 164 for a channel name.
NAME_CHARSET = re.compile(r"^[-a-zA-Z0-9_=@,.;]+$")
MAX_CHANNEL_LENGTH = 164
MAX_EVENT_LENGTH = 200
RESERVED_EVENT_PREFIXES = ("pusher:", "pusher_internal:")


_STATUS_OF = {
    pusher.errors.PusherBadRequest: 400,
    pusher.errors.PusherBadAuth: 401,
    pusher.errors.PusherForbidden: 403,
}


class SendError(Exception):
    """The event did not reach tidings (unreachable, timed out, or rejected)."""


def channel_problem(channel: object) -> str | None:
    if not isinstance(channel, str) or not channel:
        return "channel must be a non-empty string"
    if len(channel) > MAX_CHANNEL_LENGTH:
        return f"channel name is {len(channel)} characters long; the limit is {MAX_CHANNEL_LENGTH}"
    if not NAME_CHARSET.match(channel):
        return f"channel name {channel!r} may only contain a-z A-Z 0-9 and - _ = @ , . ;"
    return None


def event_problem(event: object) -> str | None:
    if not isinstance(event, str) or not event:
        return "event must be a non-empty string"
    if len(event) > MAX_EVENT_LENGTH:
        return f"event name is {len(event)} characters long; the limit is {MAX_EVENT_LENGTH}"
    if event.startswith(RESERVED_EVENT_PREFIXES):
        return f"event name {event!r} uses a reserved prefix (pusher: or pusher_internal:)"
    return None


def new_client(config: DemoConfig) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=config.app_id,
        key=config.key,
        secret=config.secret,
        cluster=config.cluster,
        host=config.tidings_host,
        port=config.tidings_port,
        ssl=False,
        timeout=config.sdk_timeout,
    )


def _send_blocking(
    client: pusher.Pusher, config: DemoConfig, channel: str, event: str, data: Any
) -> None:
    try:
        client.trigger(channel, event, data)
    except OSError as exc:  # requests' errors are OSErrors: refused, reset, timed out
        where = f"{config.tidings_host}:{config.tidings_port}"
        raise SendError(f"tidings at {where} is unreachable: {type(exc).__name__}") from exc
    except pusher.errors.PusherError as exc:
        # The SDK's message is only the response body; its exception class carries the status.
        status = _STATUS_OF.get(type(exc))
        prefix = f"HTTP {status}: " if status else ""
        raise SendError(f"tidings rejected the event: {prefix}{exc}") from exc


async def send_with(
    client: pusher.Pusher, config: DemoConfig, channel: str, event: str, data: Any
) -> None:
    """Send one event; ``ValueError`` for bad input, ``SendError`` when delivery failed."""
    problem = channel_problem(channel) or event_problem(event)
    if problem:
        raise ValueError(problem)
    await asyncio.to_thread(_send_blocking, client, config, channel, event, data)


async def trigger(config: DemoConfig, channel: str, event: str, data: Any) -> None:
    """``send_with`` a client made for this one call."""
    await send_with(new_client(config), config, channel, event, data)
