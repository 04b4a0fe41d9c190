"""The debug console (``/console``): a page that watches one app live and triggers events.

See ``access`` for who may open it; the page's feed is ``stream``; its HTTP side is
``endpoints``. When no console is open nothing observes, and the server pays one branch per
place where news could be told.
"""

from __future__ import annotations

from collections.abc import Iterator

from tidings.net.http import Request, Socket, SocketHandler
from tidings.server.console.access import ConsoleAccess
from tidings.server.console.endpoints import (
    ConsoleEndpoint,
    ConsolePage,
    CreateConsoleEvent,
    ListConsoleApps,
)
from tidings.server.console.stream import ConsoleStream, open_stream
from tidings.server.context import Context

__all__ = ["STREAM_PATH", "Console"]

STREAM_PATH = "/console/stream"


class Console:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.access = ConsoleAccess(ctx.config.server.console_token, ctx.apps)
        self.streams: set[ConsoleStream] = set()  # the open pages' feeds

    def endpoints(self) -> Iterator[ConsoleEndpoint]:
        for endpoint_class in (ConsolePage, ListConsoleApps, CreateConsoleEvent):
            yield endpoint_class(self.ctx, self.access)

    def stream(self, request: Request, socket: Socket) -> SocketHandler:
        return open_stream(
            self.ctx, self.access, self.streams, request.headers, request.query, socket
        )
