"""``/app/{key}``: admit a new WebSocket (or refuse it the way pusher-js understands)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from tidings.apps.origins import origin_allowed
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


def refuse(
    ctx: Context, app_id: str, client: str, socket: Socket, code: Code, message: str
) -> SocketHandler:
    ctx.figures.app(app_id).refused(int(code))
    logs.refused(app_id, client, int(code), message)
    # Both the error frame and the close code: pusher-js reads either during the handshake.
    socket.write(text_frame(messages.error(code, message)))
    socket.close(int(code), message)
    return _REFUSED


def _app_id(ctx: Context, key: str) -> str:
    """The app a refused socket asked for, if it exists: unknown keys all count as one."""
    app = ctx.apps.by_key(key)
    return app.id if app is not None else Figures.UNKNOWN_APP


def open_socket(
    ctx: Context,
    key: str,
    query: Mapping[str, str],
    socket: Socket,
    origin: str | None = None,
    client: str = "",
) -> SocketHandler:
    """``client``: the client's address, through trusted proxies (``Request.client``)."""
    key, client = unquote(key), client or socket.peer()
    if ctx.draining:
        message = "Server is shutting down; reconnect"
        return refuse(ctx, _app_id(ctx, key), client, socket, Code.RECONNECT_NOW, message)
    limits = ctx.addresses
    if limits is not None and limits.too_fast(client):  # every attempt counts, good or bad
        message = "Too many new connections from your address"
        return refuse(ctx, _app_id(ctx, key), client, socket, Code.OVER_CAPACITY, message)
    try:
        app = open_session(key, query, ctx.apps)
    except PusherError as error:
        assert error.code is not None
        return refuse(ctx, _app_id(ctx, key), client, socket, error.code, error.message)
    if not origin_allowed(app.allowed_origins, origin):
        # 4009 is in the 4000s: pusher-js gives up instead of retrying from a page that can
        # never be let in.
        shown = (origin or "")[:80]  # the page's own header, cut to fit a close frame's reason
        message = f"Origin {shown} is not allowed for this app"
        return refuse(ctx, app.id, client, socket, Code.UNAUTHORIZED, message)
    if 0 < ctx.config.server.max_connections <= len(ctx.connections):
        message = "Server is over capacity; retry later"
        return refuse(ctx, app.id, client, socket, Code.OVER_CAPACITY, message)
    if limits is not None and limits.full(client):
        message = "Too many connections from your address"
        return refuse(ctx, app.id, client, socket, Code.OVER_CAPACITY, message)
    conn = Connection(ctx, socket, app, client)
    conn.open()
    return limits.hold(client, conn) if limits is not None and limits.counting else conn
