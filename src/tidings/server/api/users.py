"""``GET /apps/{app_id}/channels/{channel_name}/users``: a presence channel's distinct users."""

from __future__ import annotations

from typing import Any

from tidings.protocol.channels import channel_type
from tidings.protocol.errors import ApiError
from tidings.server.api.base import ApiRequest, Endpoint


class ListUsers(Endpoint):
    method = "GET"
    paths = ("/apps/{app_id}/channels/{channel_name}/users",)
    reads = True

    async def handle(self, request: ApiRequest) -> Any:
        name = request.match["channel_name"]
        if not channel_type(name).is_presence:
            raise ApiError(400, f"{name} is not a presence channel: only those have users")
        members = await self.ctx.adapter.members(request.app.id, name)
        with_info = request.params.get("with_user_info") in ("1", "true")
        if with_info:
            return {"users": [{"id": uid, "user_info": info} for uid, info in members.items()]}
        return {"users": [{"id": uid} for uid in members]}
