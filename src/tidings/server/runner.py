"""Run the server until SIGTERM/SIGINT, then drain: 4200 to every socket, finish HTTP, exit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable

from tidings.apps import AppStore
from tidings.apps.choose import close_app_store, open_app_store
from tidings.config import Config, ServerSettings
from tidings.net.client_address import TrustedProxies
from tidings.net.listener import Limits, Listener
from tidings.net.tls import CertificateSwitch
from tidings.protocol.errors import Code
from tidings.server.api.base import MAX_BODY_BYTES
from tidings.server.app import Application, MetricsApplication, build_context
from tidings.server.app_changes import follow_app_changes
from tidings.server.context import Context
from tidings.server.keepalive import run_sweeper
from tidings.server.metrics import MetricsEndpoint
from tidings.server.tls import load_tls, reload_tls
from tidings.server.workers import stop_when_orphaned, worker_index

log = logging.getLogger("tidings")


async def serve(
    config: Config,
    on_ready: Callable[[Context], None] | None = None,
    stop: asyncio.Event | None = None,
    reuse_port: bool = False,
) -> None:
    tls = load_tls(config.server)  # before anything starts: a bad file is a start-up error
    loop = asyncio.get_running_loop()
    if tls is not None:  # at once: a renewal signalled from now on must not be lost
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, reload_tls, config.server, tls)
    apps = await open_app_store(config)
    try:
        await _serve(config, apps, tls, on_ready, stop, reuse_port)
    finally:
        await close_app_store(apps)


def limits_for(server: ServerSettings) -> Limits:
    """What the network layer bounds, from the settings."""
    return Limits(
        max_header_bytes=server.max_header_bytes,
        max_body_bytes=MAX_BODY_BYTES,
        max_message_bytes=server.max_frame_bytes,
        request_timeout=server.request_timeout,
        keepalive_timeout=server.keepalive_timeout,
    )


async def _serve(
    config: Config,
    apps: AppStore,
    tls: CertificateSwitch | None,
    on_ready: Callable[[Context], None] | None,
    stop: asyncio.Event | None,
    reuse_port: bool,
) -> None:
    loop = asyncio.get_running_loop()
    ctx = build_context(config, apps)
    unfollow = follow_app_changes(ctx)
    await ctx.adapter.start()
    if ctx.webhooks is not None:
        await ctx.webhooks.start()
    server = config.server
    limits = limits_for(server)
    metrics = MetricsEndpoint(ctx)
    listener = Listener(
        Application(ctx, metrics),
        limits,
        TrustedProxies(server.trusted_proxies),
        server.proxy_protocol,
    )
    # reuse_port: the workers of ``--workers N`` each bind the port; the kernel spreads accepts.
    sock = socket.create_server((server.host, server.port), backlog=2048, reuse_port=reuse_port)
    await listener.start(sock, tls.entry if tls else None)
    private: Listener | None = None
    if server.metrics_port:  # plain HTTP: a private port, for the cluster's own scrapers
        private = Listener(MetricsApplication(ctx, metrics), limits)
        await private.start(
            socket.create_server((server.host, server.metrics_port), reuse_port=reuse_port)
        )
    if metrics.share is not None:
        metrics.share.start()
    stop = stop or asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    sweeper = asyncio.create_task(run_sweeper(ctx))
    orphan_watch = (
        asyncio.create_task(stop_when_orphaned(stop)) if worker_index() is not None else None
    )
    # What is alive now (modules, the app store's driver, the config) lives as long as the
    # process: out of the collector's sight, a full collection walks only what sockets made
    # (bench/inprocess.py: 63 -> 60 us of CPU per connect+subscribe).
    gc.freeze()
    if on_ready is not None:
        on_ready(ctx)
    try:
        await stop.wait()
    finally:
        await drain(ctx, listener, server.shutdown_grace)
        if private is not None:
            private.stop_accepting()
            await private.finish_requests(1.0)
        if metrics.share is not None:
            metrics.share.stop()
        if ctx.webhooks is not None:  # after drain: closing sockets emits vacated events
            await ctx.webhooks.close(server.shutdown_grace)
        sweeper.cancel()
        if orphan_watch is not None:
            orphan_watch.cancel()
        unfollow()
        await ctx.adapter.close()


async def drain(ctx: Context, listener: Listener, grace: float) -> None:
    ctx.draining = True
    listener.stop_accepting()  # in-flight HTTP requests carry on
    for conn in list(ctx.connections.values()):
        conn.close(Code.RECONNECT_NOW, "Server is shutting down; reconnect")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    await _until_forgotten(ctx, deadline)
    for conn in list(ctx.connections.values()):
        conn.socket.abort()
    await _until_forgotten(ctx, loop.time() + 2.0)  # aborted sockets still clean up in the hub
    await listener.finish_requests(max(0.0, deadline - loop.time()) + 1.0)
    log.info("tidings stopped")


async def _until_forgotten(ctx: Context, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while ctx.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
