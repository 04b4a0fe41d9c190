"""What the console's WebSocket sends the page: JSON documents, never an app's secret."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tidings.events import Activity
from tidings.hub.base import ChannelStats
from tidings.protocol.framing import text_frame
from tidings.server.console.filters import News, kind_of


def describe(at: float, news: News) -> dict[str, Any]:
    """One line of the page's stream; ``at`` is the Unix time it was observed."""
    entry: dict[str, Any] = {"at": round(at * 1000), "kind": kind_of(news)}
    if news.channel is not None:
        entry["channel"] = news.channel
    if news.socket_id is not None:
        entry["socket_id"] = news.socket_id
    if isinstance(news, Activity):
        for name in ("code", "detail", "data"):
            value = getattr(news, name)
            if value is not None:
                entry[name] = value
    else:
        entry["event"] = news.event
        entry["data"] = news.data
        if news.user_id is not None:
            entry["user_id"] = news.user_id
    return entry


def activity_frame(news: Sequence[tuple[float, News]], dropped: int) -> bytes:
    entries = [describe(at, item) for at, item in news]
    return text_frame(orjson.dumps({"type": "activity", "events": entries, "dropped": dropped}))


def stats_frame(connections: int, channels: dict[str, ChannelStats], limit: int) -> bytes:
    """The live figures; the channel list is cut at ``limit`` (``channel_count`` says all)."""
    occupied = sorted((name, s) for name, s in channels.items() if s.subscription_count)
    listed = [
        {"name": name, "subscription_count": s.subscription_count, "user_count": s.user_count}
        for name, s in occupied[:limit]
    ]
    document = {
        "type": "stats",
        "connections": connections,
        "channel_count": len(occupied),
        "channels": listed,
    }
    return text_frame(orjson.dumps(document))


def message_frame(kind: str, message: str) -> bytes:
    return text_frame(orjson.dumps({"type": kind, "message": message}))
