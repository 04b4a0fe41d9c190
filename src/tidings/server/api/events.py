"""``POST /apps/{app_id}/events``: trigger one event on up to 100 channels."""

from __future__ import annotations

from typing import Any

from tidings.server.api.base import NOTHING, ApiRequest, Endpoint
from tidings.server.api.trigger import channel_info, parse_trigger, publish


class TriggerEvent(Endpoint):
    method = "POST"
    events_per_answer = 1
    paths = ("/apps/{app_id}/events",)

    async def handle(self, request: ApiRequest) -> Any:
        app = request.app
        trigger = parse_trigger(app, request.json())
        if app.max_backend_events_per_sec >= 0:
            await self.limit(app, "backend", len(trigger.channels), app.max_backend_events_per_sec)
        await publish(self.ctx, app, [trigger], first_counted=True)
        if trigger.info:
            return {"channels": await channel_info(self.ctx, app, trigger)}
        return NOTHING
