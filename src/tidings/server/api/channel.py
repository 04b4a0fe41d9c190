"""``GET /apps/{app_id}/channels/{channel_name}``: one channel's state."""

from __future__ import annotations

from typing import Any

import orjson

from tidings.protocol.channels import channel_type
from tidings.protocol.errors import ApiError
from tidings.server.api.base import ApiRequest, Endpoint


class ShowChannel(Endpoint):
    method = "GET"
    paths = ("/apps/{app_id}/channels/{channel_name}",)
    reads = True

    async def handle(self, request: ApiRequest) -> Any:
        app = request.app
        name = request.channel_name()
        kind = channel_type(name)
        info = {a for a in request.params.get("info", "").split(",") if a}
        unknown = info - {"user_count", "subscription_count", "cache"}
        if unknown:
            raise ApiError(400, f"Unknown info attribute(s): {', '.join(sorted(unknown))}")
        if "user_count" in info and not kind.is_presence:
            raise ApiError(400, "info=user_count is only available for presence channels")
        if "cache" in info and not kind.cached:
            raise ApiError(400, "info=cache is only available for cache channels")
        stats = await self.ctx.adapter.channel(app.id, name)
        body: dict[str, Any] = {"occupied": stats.subscription_count > 0}
        if "user_count" in info:
            body["user_count"] = stats.user_count or 0
        if "subscription_count" in info:
            body["subscription_count"] = stats.subscription_count
        if "cache" in info:
            cached = await self.ctx.adapter.cache_get(app.id, name)
            body["cache"] = None
            if cached is not None:
                payload, ttl = cached
                body["cache"] = {"data": orjson.loads(payload)["data"], "ttl": int(ttl)}
        return body
