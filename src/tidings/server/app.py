"""Wiring: build the context, and the application the network layer serves: one route per
HTTP endpoint, and ``/app/{key}`` for WebSockets."""

from __future__ import annotations

from collections.abc import Awaitable

from tidings.apps import AppStore, StaticAppStore
from tidings.config import Config
from tidings.events import EventBus
from tidings.hub.choose import shared_state
from tidings.net.http import Request, Response, Socket, SocketHandler
from tidings.protocol.errors import ApiError
from tidings.server.addresses import address_limits
from tidings.server.api.base import Endpoint, error_response
from tidings.server.api.batch_events import TriggerBatch
from tidings.server.api.channel import ShowChannel
from tidings.server.api.channels import ListChannels
from tidings.server.api.events import TriggerEvent
from tidings.server.api.terminate import TerminateUserConnections
from tidings.server.api.users import ListUsers
from tidings.server.context import Context
from tidings.server.health import Health
from tidings.server.router import Router
from tidings.server.subscription_count import SubscriptionCounts
from tidings.server.websocket import open_socket
from tidings.webhooks import WebhookService

ENDPOINTS: tuple[type[Endpoint], ...] = (
    TriggerEvent,
    TriggerBatch,
    ListChannels,
    ShowChannel,
    ListUsers,
    TerminateUserConnections,
)
WEBSOCKET_PREFIX = "/app/"


def build_context(config: Config, apps: AppStore | None = None) -> Context:
    """``apps``: another store than the config's apps (tidings.testing changes its app per
    test); the config's apps still decide whether webhooks are on."""
    bus = EventBus()
    adapter, rate_limiter = shared_state(config.server, bus)
    apps = StaticAppStore(config.apps) if apps is None else apps
    return Context(
        config=config,
        apps=apps,
        bus=bus,
        adapter=adapter,
        rate_limiter=rate_limiter,
        subscription_counts=SubscriptionCounts(adapter, bus),
        webhooks=WebhookService.for_config(config, apps, bus, adapter),
        addresses=address_limits(config.server),
    )


async def _not_found(request: Request) -> Response:
    message = f"Not Found: {request.method} {request.path} is not part of this API"
    return error_response(ApiError(404, message))


class Application:
    """What tidings answers; ``tidings.net`` calls it for each request and WebSocket."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.eager = ctx.adapter.in_process
        self.router = Router()
        health = Health(ctx)
        self.router.add("GET", "/", health.index)
        self.router.add("GET", "/ready", health.ready)
        for endpoint_class in ENDPOINTS:
            endpoint = endpoint_class(ctx)
            for path in endpoint.paths:
                self.router.add(endpoint.method, path, endpoint)

    def http(self, request: Request) -> Awaitable[Response]:
        # The route's own coroutine, not one wrapped in ours: a frame less per request.
        found = self.router.match(request.method, request.path)
        if found is None:
            return _not_found(request)
        route, match = found
        return route(request, match)

    def is_websocket(self, path: str) -> bool:
        return path.startswith(WEBSOCKET_PREFIX)

    def websocket(self, request: Request, socket: Socket) -> SocketHandler:
        key = request.path[len(WEBSOCKET_PREFIX) :]
        origin = request.headers.get("origin")
        return open_socket(self.ctx, key, request.query, socket, origin, request.client)
