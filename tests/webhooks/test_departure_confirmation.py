"""A departure is confirmed with the hub when its delay is over; if Redis cannot be asked, it is
sent anyway (at least once). The service runs in this process against a real receiver, a real
queue file and a Redis driver whose Redis is down."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.server import free_port
from tests.webhooks.receiver import Receiver
from tidings.apps import App, StaticAppStore, WebhookTarget
from tidings.config import Config, ServerSettings
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub.redis import RedisAdapter
from tidings.webhooks import WebhookService


async def test_a_departure_is_sent_when_redis_cannot_confirm_it(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(
        id="4242", key="test-key", secret="test-secret", webhooks=(WebhookTarget(receiver.url()),)
    )
    server = ServerSettings(
        data_dir=str(tmp_path / "data"),
        webhook_batch_window=0.01,
        webhook_vacate_delay=0.2,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        redis_timeout=0.5,
    )
    bus = EventBus()
    hub = RedisAdapter(bus, server)
    service = WebhookService.for_config(
        Config(server=server, apps=(app,)), StaticAppStore([app]), bus, hub
    )
    assert service is not None
    await service.start()
    try:
        with caplog.at_level(logging.WARNING, logger="tidings.webhooks"):
            bus.emit(HubEvent(HubEventKind.CHANNEL_VACATED, "4242", "orders"))
            await receiver.wait_for(lambda: len(receiver.events()) == 1)
        assert receiver.events() == [{"name": "channel_vacated", "channel": "orders"}]
        assert "cannot confirm 1 departure(s)" in caplog.text
    finally:
        await service.close(grace=0)
        await hub.close()
