"""``/app/{key}``: admit a new WebSocket (or refuse it the way pusher-js understands)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from tidings.apps.origins import origin_allowed
from tidings.net.http import Socket, SocketHandler
from tidings.protocol import messages
from tidings.protocol.errors import Code, PusherError
from tidings.protocol.framing import text_frame
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


def refuse(socket: Socket, code: Code, message: str) -> SocketHandler:
    # Both the error frame and the close code: pusher-js reads either during the handshake.
    socket.write(text_frame(messages.error(code, message)))
    socket.close(int(code), message)
    return _REFUSED


def open_socket(
    ctx: Context,
    key: str,
    query: Mapping[str, str],
    socket: Socket,
    origin: str | None = None,
    client: str = "",
) -> SocketHandler:
    if ctx.draining:
        return refuse(socket, Code.RECONNECT_NOW, "Server is shutting down; reconnect")
    limits = ctx.addresses
    if limits is not None and limits.too_fast(client):  # every attempt counts, good or bad
        return refuse(socket, Code.OVER_CAPACITY, "Too many new connections from your address")
    try:
        app = open_session(unquote(key), query, ctx.apps)
    except PusherError as error:
        assert error.code is not None
        return refuse(socket, error.code, error.message)
    if not origin_allowed(app.allowed_origins, origin):
        # 4009 is in the 4000s: pusher-js gives up instead of retrying from a page that can
        # never be let in.
        shown = (origin or "")[:80]  # the page's own header, cut to fit a close frame's reason
        return refuse(socket, Code.UNAUTHORIZED, f"Origin {shown} is not allowed for this app")
    if 0 < ctx.config.server.max_connections <= len(ctx.connections):
        return refuse(socket, Code.OVER_CAPACITY, "Server is over capacity; retry later")
    if limits is not None and limits.full(client):
        return refuse(socket, Code.OVER_CAPACITY, "Too many connections from your address")
    conn = Connection(ctx, socket, app)
    conn.open()
    return limits.hold(client, conn) if limits is not None and limits.counting else conn
