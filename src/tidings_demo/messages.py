"""``POST /api/internal/notify`` and ``POST /api/send-message``: the guide's two API routes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from aiohttp import web

from tidings_demo import notify
from tidings_demo.httputil import config_of, error, json_object, present

log = logging.getLogger("tidings_demo")

MISSING_NOTIFY_FIELDS = "Missing required fields: channel, event, data"
MISSING_MESSAGE_FIELDS = "Missing required fields: userId, message"
MAX_DATA_BYTES = 10 * 1024  # Pusher's per-event payload limit
MAX_MESSAGE_LENGTH = 2000


async def send(request: web.Request, channel: str, event: str, data: object) -> web.Response:
    try:
        await notify.trigger(config_of(request), channel, event, data)
    except ValueError as exc:
        return error(400, f"Invalid notification: {exc}")
    except Exception as exc:  # the guide's catch-all: the caller gets the reason, not a hang
        log.warning("sending %s on %s failed: %s", event, channel, exc)
        return error(500, "Failed to send notification", details=str(exc) or type(exc).__name__)
    return web.json_response({"success": True})


async def internal_notify(request: web.Request) -> web.Response:
    body = await json_object(request)
    if body is None or not all(present(body.get(f)) for f in ("channel", "event", "data")):
        return error(400, MISSING_NOTIFY_FIELDS)
    channel, event, data = body["channel"], body["event"], body["data"]
    problem = notify.channel_problem(channel) or notify.event_problem(event)
    if problem:
        return error(400, f"Invalid notification: {problem}")
    if len(json.dumps(data, separators=(",", ":")).encode()) > MAX_DATA_BYTES:
        return error(400, f"Invalid notification: data is larger than {MAX_DATA_BYTES} bytes")
    return await send(request, channel, event, data)


async def send_message(request: web.Request) -> web.Response:
    body = await json_object(request)
    if body is None or not all(present(body.get(f)) for f in ("userId", "message")):
        return error(400, MISSING_MESSAGE_FIELDS)
    user_id, message = body["userId"], body["message"]
    if not isinstance(user_id, str | int) or isinstance(user_id, bool):
        return error(400, "Invalid message: userId must be a string")
    if not isinstance(message, str):
        return error(400, "Invalid message: message must be a string")
    if len(message) > MAX_MESSAGE_LENGTH:
        too_long = f"message is longer than {MAX_MESSAGE_LENGTH} characters"
        return error(400, f"Invalid message: {too_long}")
    channel = f"user-{user_id}"
    problem = notify.channel_problem(channel)
    if problem:
        return error(400, f"Invalid message: userId gives a bad {problem}")
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return await send(request, channel, "new-message", {"message": message, "timestamp": timestamp})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/internal/notify", internal_notify)
    app.router.add_post("/api/send-message", send_message)
