"""``GET /app/{key}``: the WebSocket handshake, then the connection's read loop."""

from __future__ import annotations

from aiohttp import web

from tidings.protocol import messages
from tidings.protocol.errors import Code, PusherError
from tidings.server.connection import Connection
from tidings.server.context import Context
from tidings.session import open_session

CLOSE_TIMEOUT = 3.0


async def refuse(ws: web.WebSocketResponse, code: Code, message: str) -> web.WebSocketResponse:
    # Both the error frame and the close code: pusher-js reads either during the handshake.
    await ws.send_str(messages.error(code, message).decode())
    await ws.close(code=int(code), message=message.encode()[:123])
    return ws


async def websocket(request: web.Request) -> web.StreamResponse:
    ctx: Context = request.app["ctx"]
    server = ctx.config.server
    ws = web.WebSocketResponse(
        autoping=True,
        compress=False,
        max_msg_size=server.max_frame_bytes,
        timeout=CLOSE_TIMEOUT,
    )
    await ws.prepare(request)
    if ctx.draining:
        return await refuse(ws, Code.RECONNECT_NOW, "Server is shutting down; reconnect")
    try:
        app = open_session(request.match_info["key"], request.query, ctx.apps)
    except PusherError as error:
        assert error.code is not None
        return await refuse(ws, error.code, error.message)
    if 0 < server.max_connections <= len(ctx.connections):
        return await refuse(ws, Code.OVER_CAPACITY, "Server is over capacity; retry later")
    transport = request.transport  # uvloop's transport is not an asyncio.Transport subclass
    if transport is None:  # the peer left during the handshake
        return ws
    conn = Connection(ctx, ws, transport, app)
    if not await ctx.adapter.add_connection(conn):
        return await refuse(ws, Code.OVER_CONNECTION_QUOTA, "Application is over connection quota")
    ctx.connections[conn.socket_id] = conn
    try:
        await conn.run()
    finally:
        del ctx.connections[conn.socket_id]
        await conn.cleanup()
    return ws
