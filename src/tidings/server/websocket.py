"""``/app/{key}``: admit a new WebSocket (or refuse it the way pusher-js understands)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from tidings.metrics.figures import Figures
from tidings.net.http import Socket, SocketHandler
from tidings.protocol import messages
from tidings.protocol.errors import Code, PusherError
from tidings.protocol.framing import text_frame
from tidings.server import logs
from tidings.server.connection import Connection
from tidings.server.context import Context
from tidings.session import open_session


class _Refused:
    """The handler of a socket already told to go: whatever it still sends is ignored."""

    def message(self, text: str) -> None:
        pass

    def binary(self, data: bytes) -> None:
        pass

    def closed(self) -> None:
        pass


_REFUSED = _Refused()


def refuse(ctx: Context, app_id: str, socket: Socket, code: Code, message: str) -> SocketHandler:
    ctx.figures.app(app_id).refused(int(code))
    logs.refused(app_id, socket.peer(), int(code), message)
    # Both the error frame and the close code: pusher-js reads either during the handshake.
    socket.write(text_frame(messages.error(code, message)))
    socket.close(int(code), message)
    return _REFUSED


def _app_id(ctx: Context, key: str) -> str:
    """The app a refused socket asked for, if it exists: unknown keys all count as one."""
    app = ctx.apps.by_key(key)
    return app.id if app is not None else Figures.UNKNOWN_APP


def open_socket(ctx: Context, key: str, query: Mapping[str, str], socket: Socket) -> SocketHandler:
    key = unquote(key)
    if ctx.draining:
        return refuse(
            ctx, _app_id(ctx, key), socket, Code.RECONNECT_NOW, "Server is shutting down; reconnect"
        )
    try:
        app = open_session(key, query, ctx.apps)
    except PusherError as error:
        assert error.code is not None
        return refuse(ctx, _app_id(ctx, key), socket, error.code, error.message)
    if 0 < ctx.config.server.max_connections <= len(ctx.connections):
        return refuse(
            ctx, app.id, socket, Code.OVER_CAPACITY, "Server is over capacity; retry later"
        )
    conn = Connection(ctx, socket, app, socket.peer())
    conn.open()
    return conn
