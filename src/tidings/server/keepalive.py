"""One sweeper for all connections: pings the idle, closes the silent and the unauthorized.

A single periodic pass costs far less than a timer per socket and keeps per-connection state to
two floats.
"""

from __future__ import annotations

import asyncio
import logging

from tidings.protocol import messages
from tidings.protocol.errors import Code
from tidings.server.context import Context

log = logging.getLogger("tidings.keepalive")


def sweep(ctx: Context, now: float) -> None:
    server = ctx.config.server
    for conn in list(ctx.connections.values()):
        if conn.closing:
            continue
        if conn.pinged_at is not None:
            if now - conn.pinged_at > server.pong_timeout:
                conn.close(Code.PONG_NOT_RECEIVED, "Pong reply not received")
            continue
        if now - conn.last_seen > server.activity_timeout:
            conn.pinged_at = now
            conn.reply(messages.PING)
        app = conn.app
        if (
            app.enable_user_authentication
            and now - conn.opened_at > app.user_authentication_timeout
            and not conn.session.authorized
        ):
            conn.terminate(Code.UNAUTHORIZED, "Connection not authorized within timeout.")


async def run_sweeper(ctx: Context) -> None:
    server = ctx.config.server
    interval = max(0.1, min(server.activity_timeout / 4, server.pong_timeout / 4, 5.0))
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            sweep(ctx, loop.time())
        except Exception:  # a bug here must not stop keep-alive for everyone
            log.exception("keep-alive sweep failed")
