from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.support.server import AppSpec, TidingsServer
from tests.webhooks.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running webhook receiver that answers 200 unless told otherwise."""
    instance = await Receiver().start()
    yield instance
    await instance.stop()


@pytest.fixture
async def start_tidings() -> AsyncIterator[Callable[..., Awaitable[TidingsServer]]]:
    """Start tidings processes off the event loop, so the receiver keeps answering meanwhile."""
    started: list[TidingsServer] = []

    async def start(apps: list[AppSpec], server: dict[str, Any]) -> TidingsServer:
        instance = TidingsServer(apps, server)
        started.append(instance)
        return await asyncio.to_thread(instance.start)

    yield start
    for instance in started:
        await asyncio.to_thread(instance.__exit__, None, None, None)
