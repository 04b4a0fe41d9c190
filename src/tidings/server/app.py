"""Wiring: build the context, and the application the network layer serves: one route per
HTTP endpoint, ``/app/{key}`` for WebSockets, and the debug console (``/console``)."""

from __future__ import annotations

from collections.abc import Awaitable

from tidings.apps import AppStore, StaticAppStore
from tidings.config import Config
from tidings.events import EventBus
from tidings.hub.choose import shared_state
from tidings.net.http import Request, Response, Socket, SocketHandler
from tidings.protocol.errors import ApiError
from tidings.server.api.base import Endpoint, error_response
from tidings.server.api.batch_events import TriggerBatch
from tidings.server.api.channel import ShowChannel
from tidings.server.api.channels import ListChannels
from tidings.server.api.events import TriggerEvent
from tidings.server.api.history import ChannelHistory
from tidings.server.api.terminate import TerminateUserConnections
from tidings.server.api.users import ListUsers
from tidings.server.console import STREAM_PATH, Console
from tidings.server.context import Context
from tidings.server.health import Health
from tidings.server.metrics import MetricsEndpoint
from tidings.server.router import Router
from tidings.server.scripts import Scripts
from tidings.server.subscription_count import SubscriptionCounts
from tidings.server.websocket import open_socket
from tidings.webhooks import WebhookService

ENDPOINTS: tuple[type[Endpoint], ...] = (
    TriggerEvent,
    TriggerBatch,
    ListChannels,
    ShowChannel,
    ChannelHistory,
    ListUsers,
    TerminateUserConnections,
)
WEBSOCKET_PREFIX = "/app/"


def build_context(config: Config, apps: AppStore | None = None) -> Context:
    """``apps``: the store to read (``tidings serve``'s database, tidings.testing's per-test
    app) instead of the config's apps alone."""
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
    )


async def _not_found(request: Request) -> Response:
    message = f"Not Found: {request.method} {request.path} is not part of this API"
    return error_response(ApiError(404, message))


class _Routed:
    """Answers HTTP requests from a router: probes first, then what the subclass adds."""

    def __init__(self, ctx: Context) -> None:
        self.router = Router()
        health = Health(ctx)
        self.router.add("GET", "/", health.index)
        self.router.add("GET", "/live", health.live)
        self.router.add("GET", "/ready", health.ready)

    def http(self, request: Request) -> Awaitable[Response]:
        # The route's own coroutine, not one wrapped in ours: a frame less per request.
        found = self.router.match(request.method, request.path)
        if found is None:
            return _not_found(request)
        route, match = found
        return route(request, match)


class Application(_Routed):
    """What tidings answers; ``tidings.net`` calls it for each request and WebSocket.

    ``/metrics`` is served here unless it has a port of its own (``MetricsApplication``)."""

    def __init__(self, ctx: Context, metrics: MetricsEndpoint | None = None) -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.eager = ctx.adapter.in_process
        if metrics is not None and not ctx.config.server.metrics_port:
            self.router.add("GET", "/metrics", metrics)
        for endpoint_class in ENDPOINTS:
            endpoint = endpoint_class(ctx)
            for path in endpoint.paths:
                self.router.add(endpoint.method, path, endpoint)
        scripts = Scripts()
        for path in scripts.paths():
            self.router.add("GET", path, scripts)
        self.console = Console(ctx)
        for console_endpoint in self.console.endpoints():
            self.router.add(console_endpoint.method, console_endpoint.path, console_endpoint)

    def is_websocket(self, path: str) -> bool:
        return path.startswith(WEBSOCKET_PREFIX) or path == STREAM_PATH

    def websocket(self, request: Request, socket: Socket) -> SocketHandler:
        if request.path == STREAM_PATH:
            return self.console.stream(request, socket)
        return open_socket(self.ctx, request.path[len(WEBSOCKET_PREFIX) :], request.query, socket)


class MetricsApplication(_Routed):
    """The private port of ``metrics_port``: ``/metrics`` and the probes, no Pusher."""

    eager = True

    def __init__(self, ctx: Context, metrics: MetricsEndpoint) -> None:
        super().__init__(ctx)
        self.router.add("GET", "/metrics", metrics)

    def is_websocket(self, path: str) -> bool:
        return False

    def websocket(self, request: Request, socket: Socket) -> SocketHandler:
        raise AssertionError("is_websocket() is always False here")
