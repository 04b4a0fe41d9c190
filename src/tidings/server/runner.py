"""Run the server until SIGTERM/SIGINT, then drain: 4200 to every socket, finish HTTP, exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from tidings.config import Config
from tidings.protocol.errors import Code
from tidings.server.app import build_app, build_context
from tidings.server.context import Context
from tidings.server.keepalive import run_sweeper
from tidings.server.workers import stop_when_orphaned, worker_index

log = logging.getLogger("tidings")


async def serve(
    config: Config,
    on_ready: Callable[[Context], None] | None = None,
    stop: asyncio.Event | None = None,
    reuse_port: bool = False,
) -> None:
    ctx = build_context(config)
    await ctx.adapter.start()
    if ctx.webhooks is not None:
        await ctx.webhooks.start()
    runner = web.AppRunner(
        build_app(ctx), handle_signals=False, access_log=None, shutdown_timeout=5.0
    )
    await runner.setup()
    server = config.server
    # reuse_port: the workers of ``--workers N`` each bind the port; the kernel spreads accepts.
    sock = socket.create_server((server.host, server.port), backlog=2048, reuse_port=reuse_port)
    site = web.SockSite(runner, sock)
    await site.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    sweeper = asyncio.create_task(run_sweeper(ctx))
    orphan_watch = (
        asyncio.create_task(stop_when_orphaned(stop)) if worker_index() is not None else None
    )
    if on_ready is not None:
        on_ready(ctx)
    try:
        await stop.wait()
    finally:
        await drain(ctx, site, runner, server.shutdown_grace)
        if ctx.webhooks is not None:  # after drain: closing sockets emits vacated events
            await ctx.webhooks.close(server.shutdown_grace)
        sweeper.cancel()
        if orphan_watch is not None:
            orphan_watch.cancel()
        await ctx.adapter.close()


async def drain(ctx: Context, site: web.BaseSite, runner: web.AppRunner, grace: float) -> None:
    ctx.draining = True
    await site.stop()  # stop accepting; in-flight HTTP requests carry on
    for conn in list(ctx.connections.values()):
        conn.close(Code.RECONNECT_NOW, "Server is shutting down; reconnect")
    deadline = asyncio.get_running_loop().time() + grace
    while ctx.connections and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    for conn in list(ctx.connections.values()):
        conn.transport.abort()
    await runner.cleanup()
    log.info("tidings stopped")
