"""``pusher_internal:subscription_count``: on every change; at most every 5 s on big channels."""

from __future__ import annotations

import asyncio

from tidings.apps import App
from tidings.background import spawn
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub import Adapter

THROTTLE_ABOVE = 100
INTERVAL = 5.0


class SubscriptionCounts:
    def __init__(self, adapter: Adapter, bus: EventBus) -> None:
        self._adapter = adapter
        self._bus = bus
        self._last_sent: dict[tuple[str, str], float] = {}
        self._pending: set[tuple[str, str]] = set()

    def changed(self, app: App, channel: str, count: int) -> None:
        key = (app.id, channel)
        loop = asyncio.get_running_loop()
        now = loop.time()
        if count == 0:
            self._last_sent.pop(key, None)
        if count <= THROTTLE_ABOVE:
            self._send(app.id, channel)
            return
        if key in self._pending:
            return  # the scheduled send reads the count when it runs
        wait = self._last_sent.get(key, now - INTERVAL) + INTERVAL - now
        if wait <= 0:
            self._last_sent[key] = now
            self._send(app.id, channel)
        else:
            self._pending.add(key)
            loop.call_later(wait, self._flush, app.id, channel)

    def _flush(self, app_id: str, channel: str) -> None:
        spawn(self._flush_now(app_id, channel))

    async def _flush_now(self, app_id: str, channel: str) -> None:
        key = (app_id, channel)
        self._pending.discard(key)
        self._last_sent[key] = asyncio.get_running_loop().time()
        await self._announce(app_id, channel)

    def _send(self, app_id: str, channel: str) -> None:
        spawn(self._announce(app_id, channel))

    async def _announce(self, app_id: str, channel: str) -> None:
        # The hub reads the count when it sends it: on a cluster, the count computed at this
        # node's change may be stale by the time it would arrive.
        count = await self._adapter.announce_subscription_count(app_id, channel)
        self._bus.emit(
            HubEvent(HubEventKind.SUBSCRIPTION_COUNT, app_id, channel, subscription_count=count)
        )
