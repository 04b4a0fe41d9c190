"""``POST /apps/{app_id}/batch_events``: up to 10 events, each on one channel."""

from __future__ import annotations

from typing import Any

from tidings.protocol.errors import ApiError
from tidings.server.api.base import NOTHING, ApiRequest, Endpoint
from tidings.server.api.trigger import channel_info, parse_trigger, publish


class TriggerBatch(Endpoint):
    method = "POST"
    events_per_answer = 1
    paths = ("/apps/{app_id}/batch_events",)

    async def handle(self, request: ApiRequest) -> Any:
        app = request.app
        batch = request.json().get("batch")
        if not isinstance(batch, list) or not batch:
            raise ApiError(400, "'batch' is required: a non-empty list of events")
        if len(batch) > app.max_event_batch_size:
            raise ApiError(
                400, f"A batch holds at most {app.max_event_batch_size} events, not {len(batch)}"
            )
        triggers = []
        for index, item in enumerate(batch):
            if not isinstance(item, dict):
                raise ApiError(400, f"batch[{index}] must be an object")
            try:
                triggers.append(parse_trigger(app, item, single_channel=True))
            except ApiError as error:
                raise ApiError(error.status, f"batch[{index}]: {error.message}") from None
        if app.max_backend_events_per_sec >= 0:
            await self.limit(app, "backend", len(triggers), app.max_backend_events_per_sec)
        await publish(self.ctx, app, triggers, first_counted=True)
        if not any(trigger.info for trigger in triggers):
            return NOTHING
        results = []
        for trigger in triggers:
            info = await channel_info(self.ctx, app, trigger)
            results.append(info[trigger.channels[0]] if trigger.info else {})
        return {"batch": results}
