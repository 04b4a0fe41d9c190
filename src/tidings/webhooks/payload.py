"""The documented webhook bodies (PROTOCOL.md §7): one dict per event, one JSON body per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tidings.events import HubEvent, HubEventKind


def event_body(event: HubEvent) -> dict[str, Any]:
    kind = event.kind
    body: dict[str, Any] = {"name": kind.value, "channel": event.channel}
    if kind in (HubEventKind.MEMBER_ADDED, HubEventKind.MEMBER_REMOVED):
        body["user_id"] = event.user_id
    elif kind is HubEventKind.CLIENT_EVENT:
        body["event"] = event.event
        body["data"] = event.data
        body["socket_id"] = event.socket_id
        if event.user_id is not None:
            body["user_id"] = event.user_id
    elif kind is HubEventKind.SUBSCRIPTION_COUNT:
        body["subscription_count"] = event.subscription_count
    return body


def batch_body(time_ms: int, events: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"time_ms": time_ms, "events": list(events)})


def restamp(body: bytes, time_ms: int) -> bytes:
    """The same events under a new ``time_ms``: receivers' SDKs refuse bodies over 5 minutes old."""
    document = orjson.loads(body)
    return batch_body(time_ms, document["events"])
