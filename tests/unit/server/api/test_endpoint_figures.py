"""What an API endpoint counts: every answer by status, and the latency of a sample of them.

The requests are signed by the official ``pusher`` SDK and answered by a real endpoint on a
real context (the in-memory hub), without a socket."""

from __future__ import annotations

import asyncio

from pusher.pusher_client import PusherClient

from tidings.config import DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET, load
from tidings.metrics.figures import Endpoint as EndpointFigures
from tidings.net.http import Request
from tidings.server.api.base import TIMED_EVERY, Endpoint
from tidings.server.api.batch_events import TriggerBatch
from tidings.server.api.events import TriggerEvent
from tidings.server.app import build_context

SDK = PusherClient(DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET, host="127.0.0.1", port=1, ssl=False)
MATCH = {"app_id": DEV_APP_ID}


def request_of(made: object) -> Request:
    """The SDK's request (``pusher.http.Request``) as tidings' network layer hands it over."""
    body = getattr(made, "body")  # noqa: B009 - the SDK's own attribute, untyped
    path, _, query = getattr(made, "signed_path").partition("?")  # noqa: B009
    return Request(getattr(made, "method"), path, query, {}, body)  # noqa: B009


def trigger(channels: str | list[str] = "news") -> Request:
    return request_of(SDK.trigger.make_request(channels, "e", {"n": 1}))


def figures_of(endpoint: Endpoint) -> EndpointFigures:
    return endpoint.ctx.figures.app(DEV_APP_ID).endpoints[endpoint.name]


async def test_answers_are_counted_by_status_and_events_once_per_channel() -> None:
    ctx = build_context(load(env={}))
    events, batch = TriggerEvent(ctx), TriggerBatch(ctx)
    for request in (trigger(), trigger(["a", "b", "c"]), trigger()):
        assert (await events(request, MATCH)).status == 200
    refused = trigger()
    refused.query_string = refused.query_string.replace("auth_signature=", "auth_signature=0")
    assert (await events(refused, MATCH)).status == 401
    made = SDK.trigger_batch.make_request([{"channel": "x", "name": "e", "data": "1"}] * 2)
    assert (await batch(request_of(made), MATCH)).status == 200

    assert figures_of(events).statuses() == {200: 3, 401: 1}
    assert figures_of(events).statuses() == {200: 3, 401: 1}  # reading counts nothing
    assert figures_of(batch).statuses() == {200: 1}
    assert ctx.figures.app(DEV_APP_ID).api_events() == 1 + 3 + 1 + 2


async def test_the_first_request_is_timed_and_the_next_only_once_the_interval_is_over() -> None:
    ctx = build_context(load(env={}))
    events = TriggerEvent(ctx)
    latency = figures_of(events).latency

    await events(trigger(), MATCH)
    # A timer due later than the endpoint's own (which asks for the next sample) runs after it.
    after_the_interval = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(2 * TIMED_EVERY, after_the_interval.set_result, None)
    await events(trigger(), MATCH)  # in the same loop turn: no timer has run
    assert latency.count == 1 and latency.total > 0

    await asyncio.wait_for(after_the_interval, 5)
    assert events.time_next
    refused = trigger()
    refused.query_string = "auth_key=nobody"
    assert (await events(refused, MATCH)).status == 401
    assert latency.count == 2  # failures are timed too
