"""``POST /apps/{app_id}/users/{user_id}/terminate_connections``: sign a user out everywhere."""

from __future__ import annotations

from typing import Any

from tidings.protocol.channels import user_id_problem
from tidings.protocol.errors import ApiError
from tidings.server.api.base import NOTHING, ApiRequest, Endpoint


class TerminateUserConnections(Endpoint):
    method = "POST"
    # pusher-http-python 3.3 posts to the second form; the app is then found by auth_key.
    paths = (
        "/apps/{app_id}/users/{user_id}/terminate_connections",
        "/users/{user_id}/terminate_connections",
    )

    async def handle(self, request: ApiRequest) -> Any:
        user_id = request.match["user_id"]
        problem = user_id_problem(user_id)
        if problem:
            raise ApiError(400, problem)
        await self.ctx.adapter.terminate_user(request.app.id, user_id)
        return NOTHING
