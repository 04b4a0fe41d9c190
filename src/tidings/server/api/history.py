"""``GET /apps/{app_id}/channels/{channel_name}/events``: a history channel's kept events."""

from __future__ import annotations

from typing import Any

import orjson

from tidings.protocol.errors import ApiError
from tidings.server.api.base import ApiRequest, Endpoint

DEFAULT_LIMIT = 100


def _whole(params: dict[str, str], name: str, default: int, low: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < low:
        raise ApiError(400, f"'{name}' must be a whole number >= {low}, got {raw!r}")
    return int(raw)


class ChannelHistory(Endpoint):
    method = "GET"
    paths = ("/apps/{app_id}/channels/{channel_name}/events",)
    reads = True

    async def handle(self, request: ApiRequest) -> Any:
        app = request.app
        name = request.channel_name()
        rule = app.history_rule(name) if app.history else None
        if rule is None:
            raise ApiError(
                404, f"The channel {name} keeps no history (see 'history' in the app's config)"
            )
        after = _whole(request.params, "after", 0, 0)
        limit = min(_whole(request.params, "limit", DEFAULT_LIMIT, 1), rule.max_events)
        page = await self.ctx.adapter.history(app.id, name, rule, after, limit)
        events = []
        for entry in page.entries:
            message = orjson.loads(entry.payload)
            event = {"serial": entry.serial, "event": message["event"], "data": message["data"]}
            if "user_id" in message:
                event["user_id"] = message["user_id"]
            events.append(event)
        return {
            "epoch": page.epoch,
            "last": page.last,
            "complete": page.complete,
            "events": events,
        }
