"""Apps changed while tidings runs (``tidings apps``, another node): open connections follow.

A removed app's connections are closed as an unknown key would be refused (4001), a disabled
one's with 4003; the others keep their sockets and take the new settings at once, so a rotated
secret is the one that signs their next subscriptions and a changed limit holds from the next
event. The first app with webhooks starts the webhook service if nothing had started it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tidings.apps import App
from tidings.protocol.errors import Code
from tidings.server.context import Context
from tidings.webhooks import WebhookService

log = logging.getLogger("tidings.apps")


def follow_app_changes(ctx: Context) -> Callable[[], None]:
    """Start following ``ctx.apps``; returns what stops it."""
    starting: set[asyncio.Task[None]] = set()

    def changed(changes: list[tuple[App | None, App | None]]) -> None:
        by_id = {before.id: after for before, after in changes if before is not None}
        if by_id:
            for conn in list(ctx.connections.values()):
                if conn.app.id not in by_id:
                    continue
                app = by_id[conn.app.id]
                if app is None or app.key != conn.app.key:
                    conn.terminate(Code.APP_NOT_FOUND, f"App key {conn.app.key} does not exist.")
                elif not app.enabled:
                    conn.terminate(Code.APP_DISABLED, "Application is disabled.")
                else:
                    conn.app = conn.session.app = app
        if ctx.webhooks is None and any(after and after.webhooks for _, after in changes):
            task = asyncio.get_running_loop().create_task(_start_webhooks(ctx))
            starting.add(task)
            task.add_done_callback(starting.discard)

    return ctx.apps.watch(changed)


async def _start_webhooks(ctx: Context) -> None:
    if ctx.webhooks is not None or ctx.draining:
        return
    service = WebhookService.for_config(ctx.config, ctx.apps, ctx.bus, ctx.adapter)
    if service is None:
        return
    ctx.webhooks = service
    try:
        await service.start()
    except Exception:  # a data_dir that became unwritable: the server itself carries on
        ctx.webhooks = None
        log.exception("cannot start the webhook service for an app added with webhooks")
