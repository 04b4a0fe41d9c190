"""One test's server state, and the settings it is built from.

A state is a whole tidings context (hub, rate limits, webhook service, the app with the
test's settings): a reset builds a new one behind the same listening port and throws the old
one away, so nothing of an earlier test can leak into the next and nothing has to be undone
by hand. Everything here runs in the server's thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from tidings.apps import App, ChangeListener, WebhookTarget
from tidings.config import Config, ConfigError, ServerSettings, build_app, load
from tidings.events import PublishObserver
from tidings.net.http import Request, Response, Socket, SocketHandler
from tidings.net.listener import Listener
from tidings.server.app import Application, build_context
from tidings.server.context import Context
from tidings.server.keepalive import run_sweeper
from tidings.server.runner import drain
from tidings.webhooks import WebhookService

APP_ID = "424242"  # numeric: the Python SDK refuses other ids
APP_KEY = "tidings-test-key"
APP_SECRET = "tidings-test-secret"
# 4000-4099: pusher-js does not reconnect, so a client left over from one test stays out of
# the next instead of subscribing again into its fresh state.
RESET_CLOSE_CODE = 4099
# Tests want webhooks now: no batch window, no vacate delay (a test that wants the hosted
# service's 3 s reload grace sets server={"webhook_vacate_delay": 3}).
TEST_SERVER_SETTINGS: Mapping[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "webhook_batch_window": 0.0,
    "webhook_vacate_delay": 0.0,
    "webhook_timeout": 5.0,
    "shutdown_grace": 1.0,
}
_FIXED_APP = ("id", "key", "secret")  # the application under test was given these once
_FIXED_SERVER = (
    "host",
    "port",
    "redis_url",
    "redis_sentinels",
    "redis_sentinel_master",
    "workers",
)


def app_settings(values: Mapping[str, Any]) -> App:
    """The test app with ``values`` (App field names, as in ``[[apps]]``) over the defaults,
    checked and converted as the configuration's (strings from ``--tidings-app`` too)."""
    fixed = [name for name in _FIXED_APP if name in values]
    if fixed:
        raise ConfigError(
            f"tidings.testing: {', '.join(fixed)} cannot be changed per test; the application "
            "under test was given the server's credentials once (see TidingsServer.env())"
        )
    return build_app(
        "tidings.testing app", {"id": APP_ID, "key": APP_KEY, "secret": APP_SECRET, **values}
    )


def server_settings(values: Mapping[str, Any]) -> ServerSettings:
    """The test server's settings with ``values`` (``[server]`` names) over the defaults."""
    for name in _FIXED_SERVER:
        if name in values:
            raise ConfigError(
                f"tidings.testing: '{name}' is fixed (127.0.0.1, a free port, memory)"
            )
    return load(env={}, overrides={**TEST_SERVER_SETTINGS, **values}).server


def _unwatch() -> None:
    pass


class OneAppStore:
    """The app store of one test: one app, replaceable while the test runs (``webhooks_to``).
    Open connections keep the ``App`` they were opened with."""

    def __init__(self, app: App) -> None:
        self.app = app

    def by_id(self, app_id: str) -> App | None:
        return self.app if app_id == self.app.id else None

    def by_key(self, key: str) -> App | None:
        return self.app if key == self.app.key else None

    def all(self) -> list[App]:
        return [self.app]

    def ready(self) -> bool:
        return True

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        return _unwatch  # changes come from the test itself, which knows about them


class Switch:
    """What the listener serves: the current test's application, switched at each reset."""

    eager = True  # the in-memory hub never suspends a request before it first awaits

    def __init__(self, current: Application) -> None:
        self.current = current

    def http(self, request: Request) -> Awaitable[Response]:
        return self.current.http(request)

    def is_websocket(self, path: str) -> bool:
        return self.current.is_websocket(path)

    def websocket(self, request: Request, socket: Socket) -> SocketHandler:
        return self.current.websocket(request, socket)


@dataclasses.dataclass(slots=True)
class State:
    """One test's server state: everything a reset throws away."""

    ctx: Context
    apps: OneAppStore
    sweeper: asyncio.Task[None]
    data_dir: Path

    @classmethod
    async def open(
        cls,
        app: App,
        server: ServerSettings,
        port: int,
        data_dir: Path,
        observers: list[PublishObserver],
    ) -> State:
        # A data directory of its own: the webhook queue of an earlier state is never replayed.
        server = dataclasses.replace(server, port=port, data_dir=str(data_dir))
        apps = OneAppStore(app)
        ctx = build_context(Config(server=server, apps=(app,)), apps)
        ctx.publish_observers = observers
        await ctx.adapter.start()
        if ctx.webhooks is not None:
            await ctx.webhooks.start()
        return cls(ctx, apps, asyncio.create_task(run_sweeper(ctx)), data_dir)

    async def close(self, listener: Listener | None = None) -> None:
        """Close this state's sockets with 4099 and drop it; with ``listener`` (at the end of
        the session) drain as ``tidings serve`` does on SIGTERM instead."""
        ctx = self.ctx
        ctx.draining = True
        if listener is not None:
            await drain(ctx, listener, ctx.config.server.shutdown_grace)
        else:
            for conn in list(ctx.connections.values()):
                conn.close(RESET_CLOSE_CODE, "tidings.testing: the server was reset for a new test")
        # Before the sockets are gone: their departures must not become the next test's news.
        if ctx.webhooks is not None:
            await ctx.webhooks.close(0.0)
        self.sweeper.cancel()
        await ctx.adapter.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    async def add_webhook(self, target: WebhookTarget) -> None:
        app = self.apps.app
        self.apps.app = dataclasses.replace(app, webhooks=(*app.webhooks, target))
        ctx = self.ctx
        if ctx.webhooks is None:  # the test's app had no webhooks: start the service now
            config = dataclasses.replace(ctx.config, apps=(self.apps.app,))
            ctx.webhooks = WebhookService.for_config(config, self.apps, ctx.bus, ctx.adapter)
            assert ctx.webhooks is not None
            await ctx.webhooks.start()
