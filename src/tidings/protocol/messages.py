"""Wire messages: decoding client frames and encoding every server frame.

Server frames follow PROTOCOL.md section 3.1 exactly: ``data`` is a JSON *string* except in
``pusher:error``, ``pusher:subscription_error`` and ``pusher:signin_success`` (objects).
Encoders return bytes ready to be framed once and written to any number of sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.protocol.errors import Code, PusherError


@dataclass(frozen=True, slots=True)
class ClientFrame:
    event: str
    channel: str | None
    data: Any


def decode(text: str | bytes) -> ClientFrame:
    """Parse one client frame; malformed input raises PusherError with a message saying why."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise PusherError(None, "Invalid JSON: frames must be JSON objects") from None
    if not isinstance(message, dict):
        raise PusherError(None, "Invalid message: frames must be JSON objects")
    event = message.get("event")
    if not isinstance(event, str) or not event:
        raise PusherError(None, "Invalid message: 'event' must be a non-empty string")
    channel = message.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise PusherError(None, "Invalid message: 'channel' must be a string")
    return ClientFrame(event, channel, message.get("data"))


def data_object(frame: ClientFrame) -> dict[str, Any]:
    """The ``data`` of a ``pusher:*`` frame as an object (pusher-js sends objects; strings pass)."""
    data = frame.data
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise PusherError(None, f"Invalid {frame.event}: data is not JSON") from None
    if not isinstance(data, dict):
        raise PusherError(None, f"Invalid {frame.event}: data must be an object")
    return data


def json_size(value: Any) -> int | None:
    """How many bytes ``value`` takes as JSON, or None when a frame could not carry it: orjson
    reads 1024 levels of nesting but writes only 254, and a presence member's info sits three
    levels down in ``subscription_succeeded``. Measured inside three lists (6 bytes more), so
    it costs one encoding, as a plain size check would."""
    try:
        return len(orjson.dumps([[[value]]])) - 6
    except orjson.JSONEncodeError:
        return None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def connection_established(socket_id: str, activity_timeout: int) -> bytes:
    data = _dumps({"socket_id": socket_id, "activity_timeout": activity_timeout})
    return orjson.dumps({"event": "pusher:connection_established", "data": data})


def error(code: Code | None, message: str, channel: str | None = None) -> bytes:
    frame: dict[str, Any] = {
        "event": "pusher:error",
        "data": {"code": None if code is None else int(code), "message": message},
    }
    if channel is not None:
        frame["channel"] = channel
    return orjson.dumps(frame)


PING = b'{"event":"pusher:ping","data":{}}'
PONG = b'{"event":"pusher:pong","data":{}}'


def subscription_succeeded(channel: str, presence: dict[str, Any] | None = None) -> bytes:
    data = "{}" if presence is None else _dumps({"presence": presence})
    return orjson.dumps(
        {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": data}
    )


def presence_snapshot(members: dict[str, Any]) -> dict[str, Any]:
    return {"ids": list(members), "hash": members, "count": len(members)}


def subscription_error(channel: str, kind: str, message: str, status: int) -> bytes:
    return orjson.dumps(
        {
            "event": "pusher:subscription_error",
            "channel": channel,
            "data": {"type": kind, "error": message, "status": status},
        }
    )


def member_added(channel: str, user_id: str, user_info: Any) -> bytes:
    data = _dumps({"user_id": user_id, "user_info": user_info})
    return orjson.dumps({"event": "pusher_internal:member_added", "channel": channel, "data": data})


def member_removed(channel: str, user_id: str) -> bytes:
    data = _dumps({"user_id": user_id})
    return orjson.dumps(
        {"event": "pusher_internal:member_removed", "channel": channel, "data": data}
    )


def subscription_count(channel: str, count: int) -> bytes:
    data = _dumps({"subscription_count": count})
    return orjson.dumps(
        {"event": "pusher_internal:subscription_count", "channel": channel, "data": data}
    )


def cache_miss(channel: str) -> bytes:
    return orjson.dumps({"event": "pusher:cache_miss", "channel": channel, "data": "{}"})


def signin_success(user_data: str) -> bytes:
    return orjson.dumps({"event": "pusher:signin_success", "data": {"user_data": user_data}})


def watchlist_events(events: list[dict[str, Any]]) -> bytes:
    data = _dumps({"events": events})
    return orjson.dumps({"event": "pusher_internal:watchlist_events", "data": data})


def event(name: str, channel: str, data: Any, user_id: str | None = None) -> bytes:
    """An application or client event. ``data`` is relayed exactly as given."""
    frame: dict[str, Any] = {"event": name, "channel": channel, "data": data}
    if user_id is not None:
        frame["user_id"] = user_id
    return orjson.dumps(frame)


def stamped(payload: bytes, serial: int, epoch: str) -> bytes:
    """``payload`` (an encoded JSON object) with top-level ``serial`` and ``epoch`` spliced in
    (docs/history.md): no re-encoding, and clients ignore fields they do not know."""
    return b'%s,"serial":%d,"epoch":%s}' % (payload[:-1], serial, orjson.dumps(epoch))


def replay_done(channel: str, epoch: str, last: int, complete: bool) -> bytes:
    data = _dumps({"epoch": epoch, "last": last, "complete": complete})
    return orjson.dumps({"event": "tidings:replay_done", "channel": channel, "data": data})
