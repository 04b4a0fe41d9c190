"""``GET /apps/{app_id}/channels``: occupied channels, optionally filtered and with counts."""

from __future__ import annotations

from typing import Any

from tidings.protocol.channels import is_presence
from tidings.protocol.errors import ApiError
from tidings.server.api.base import ApiRequest, Endpoint


class ListChannels(Endpoint):
    method = "GET"
    paths = ("/apps/{app_id}/channels",)
    reads = True

    async def handle(self, request: ApiRequest) -> Any:
        prefix = request.params.get("filter_by_prefix", "")
        info = {a for a in request.params.get("info", "").split(",") if a}
        unknown = info - {"user_count", "subscription_count"}
        if unknown:
            raise ApiError(400, f"Unknown info attribute(s): {', '.join(sorted(unknown))}")
        if "user_count" in info and not is_presence(prefix):
            raise ApiError(
                400, "info=user_count needs filter_by_prefix to restrict to presence- channels"
            )
        channels = await self.ctx.adapter.channels(request.app.id)
        result: dict[str, dict[str, int]] = {}
        for name, stats in channels.items():
            if not name.startswith(prefix) or stats.subscription_count == 0:
                continue
            attributes: dict[str, int] = {}
            if "user_count" in info and stats.user_count is not None:
                attributes["user_count"] = stats.user_count
            if "subscription_count" in info:
                attributes["subscription_count"] = stats.subscription_count
            result[name] = attributes
        return {"channels": result}
