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

from tidings.apps import Change
from tidings.protocol.errors import Code
from tidings.server.context import Context
from tidings.webhooks import WebhookService

log = logging.getLogger("tidings.apps")


def follow_app_changes(ctx: Context) -> Callable[[], None]:
    """Start following ``ctx.apps``; returns what stops it."""
    starting: set[asyncio.Task[None]] = set()

    def changed(changes: list[Change]) -> None:
        by_id = {before.id: after for before, after in changes if before is not None}
        if by_id:
            for conn in list(ctx.connections.values()):
                if conn.closing or conn.app.id not in by_id:
                    continue
                app = by_id[conn.app.id]
                if app is None or app.key != conn.app.key:
                    conn.terminate(Code.APP_NOT_FOUND, f"App key {conn.app.key} does not exist.")
                elif not app.enabled:
                    conn.terminate(Code.APP_DISABLED, "Application is disabled.")
                else:
                    conn.app = conn.session.app = app
        if ctx.webhooks is None and not starting and not ctx.draining:
            _start_webhooks(ctx, changes, starting)

    return ctx.apps.watch(changed)


def _start_webhooks(ctx: Context, changes: list[Change], starting: set[asyncio.Task[None]]) -> None:
    """The first app with webhooks on a server that had none: start the service."""
    if not any(after and after.webhooks for _, after in changes):
        return
    service = WebhookService.for_config(ctx.config, ctx.apps, ctx.bus, ctx.adapter)
    if service is not None:
        service.observe()  # from this change on; the queue opens meanwhile
        task = asyncio.get_running_loop().create_task(_start(ctx, service))
        starting.add(task)
        task.add_done_callback(starting.discard)


async def _start(ctx: Context, service: WebhookService) -> None:
    try:
        await service.start()
    except Exception:  # a data_dir that became unwritable: the server itself carries on
        log.exception("cannot start the webhook service for an app given webhooks")
        return
    ctx.webhooks = service
