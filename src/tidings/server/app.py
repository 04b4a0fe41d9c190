"""Wiring: build the context and the aiohttp application, one route per endpoint."""

from __future__ import annotations

from aiohttp import web

from tidings.apps import StaticAppStore
from tidings.config import Config
from tidings.events import EventBus
from tidings.hub.choose import shared_state
from tidings.protocol.errors import ApiError
from tidings.server import health
from tidings.server.api.base import MAX_BODY_BYTES, Endpoint, error_response
from tidings.server.api.batch_events import TriggerBatch
from tidings.server.api.channel import ShowChannel
from tidings.server.api.channels import ListChannels
from tidings.server.api.events import TriggerEvent
from tidings.server.api.terminate import TerminateUserConnections
from tidings.server.api.users import ListUsers
from tidings.server.context import Context
from tidings.server.subscription_count import SubscriptionCounts
from tidings.server.websocket import websocket
from tidings.webhooks import WebhookService

ENDPOINTS: tuple[type[Endpoint], ...] = (
    TriggerEvent,
    TriggerBatch,
    ListChannels,
    ShowChannel,
    ListUsers,
    TerminateUserConnections,
)


def build_context(config: Config) -> Context:
    bus = EventBus()
    adapter, rate_limiter = shared_state(config.server, bus)
    apps = StaticAppStore(config.apps)
    return Context(
        config=config,
        apps=apps,
        bus=bus,
        adapter=adapter,
        rate_limiter=rate_limiter,
        subscription_counts=SubscriptionCounts(adapter, bus),
        webhooks=WebhookService.for_config(config, apps, bus, adapter),
    )


async def unknown_route(request: web.Request) -> web.Response:
    """Anything no endpoint serves gets the API's JSON error body, not aiohttp's text. A route
    rather than a middleware, so the requests that do match pay nothing for it."""
    message = f"Not Found: {request.method} {request.path} is not part of this API"
    return error_response(ApiError(404, message))


def build_app(ctx: Context) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app["ctx"] = ctx
    app.router.add_get("/", health.index)
    app.router.add_get("/ready", health.ready)
    app.router.add_get("/app/{key}", websocket)
    for endpoint_class in ENDPOINTS:
        endpoint = endpoint_class(ctx)
        for path in endpoint.paths:
            # The bound coroutine method, not the object: aiohttp wraps other callables in an
            # extra per-request shim.
            app.router.add_route(endpoint.method, path, endpoint.__call__)
    app.router.add_route("*", "/{path:.*}", unknown_route)
    return app
