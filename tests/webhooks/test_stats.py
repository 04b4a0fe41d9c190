"""The counters the metrics endpoint will read, from a service running in this process against a
real receiver and a real queue file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from tests.webhooks.receiver import Receiver
from tidings.apps import App, StaticAppStore, WebhookTarget
from tidings.config import Config, ServerSettings
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub import MemoryAdapter
from tidings.webhooks import WebhookService, WebhookStats


def service_for(
    receiver: Receiver, data_dir: Path, retry_period: float
) -> tuple[WebhookService, EventBus]:
    app = App(
        id="4242", key="test-key", secret="test-secret", webhooks=(WebhookTarget(receiver.url()),)
    )
    server = ServerSettings(
        data_dir=str(data_dir),
        webhook_batch_window=0.01,
        webhook_backoff_base=0.05,
        webhook_backoff_max=0.2,
        webhook_retry_period=retry_period,
    )
    bus = EventBus()
    service = WebhookService.for_config(
        Config(server=server, apps=(app,)), StaticAppStore([app]), bus, MemoryAdapter(bus)
    )
    assert service is not None
    return service, bus


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_stats_count_sent_retried_and_dead_lettered_webhooks(
    receiver: Receiver, tmp_path: Path
) -> None:
    service, bus = service_for(receiver, tmp_path / "data", retry_period=0.5)
    await service.start()
    try:
        assert service.stats() == WebhookStats(0, 0, 0, 0, 0, 0, 0)
        receiver.fail_next(2, status=503)
        bus.emit(HubEvent(HubEventKind.CHANNEL_OCCUPIED, "4242", "orders"))
        assert service.stats().buffered == 1  # held for the batch window, not yet written
        await until(lambda: service.stats().sent == 1)
        assert service.stats() == WebhookStats(
            buffered=0, queued=0, in_flight=0, dead_letters=0, sent=1, retried=2, failed=0
        )

        receiver.fail_next(1000, status=500)
        bus.emit(HubEvent(HubEventKind.CACHE_MISS, "4242", "cache-prices"))
        await until(lambda: service.stats().failed == 1)
        stats = service.stats()
        assert (stats.queued, stats.dead_letters, stats.sent) == (0, 1, 1)
        assert stats.retried > 2
    finally:
        await service.close(grace=0)
