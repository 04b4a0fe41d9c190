"""A receiver that has a bad moment still gets every batch: non-2xx answers and timeouts are
retried with backoff, with the very same signed body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.raw_client import RawClient
from tests.support.server import AppSpec, TidingsServer
from tests.webhooks.receiver import Receiver, node_sdk_accepts, python_sdk_accepts, webhook_settings

StartTidings = Callable[..., Awaitable[TidingsServer]]


async def test_a_receiver_failing_three_times_gets_the_batch_on_the_fourth_try(
    receiver: Receiver, start_tidings: StartTidings, tmp_path: Path
) -> None:
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    server = await start_tidings([app], webhook_settings(tmp_path / "data"))
    receiver.fail_next(2, status=500)
    receiver.fail_next(1, status=404)
    async with await RawClient.connect(server) as client:
        await client.subscribe("orders")
        await receiver.wait_for(lambda: bool(receiver.accepted), what="a delivery after failures")

    first_four = receiver.requests[:4]
    assert [request.status for request in first_four] == [500, 500, 404, 200]
    assert len({request.body for request in first_four}) == 1  # retried as is, not rebuilt
    assert first_four[-1].events == [{"name": "channel_occupied", "channel": "orders"}]
    assert python_sdk_accepts(first_four[-1], app)
    assert node_sdk_accepts(first_four[-1:], app) == [True]


async def test_a_receiver_that_does_not_answer_in_time_gets_the_batch_again(
    receiver: Receiver, start_tidings: StartTidings, tmp_path: Path
) -> None:
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    server = await start_tidings([app], webhook_settings(tmp_path / "data", webhook_timeout=0.5))
    receiver.hang_next(1)  # answers only after 3 s, long after tidings gave up on it
    async with await RawClient.connect(server) as client:
        await client.subscribe("orders")
        await receiver.wait_for(lambda: len(receiver.requests) >= 2, what="a retry after a timeout")

    hung, retried = receiver.requests[:2]
    assert hung.body == retried.body
    assert python_sdk_accepts(retried, app)
