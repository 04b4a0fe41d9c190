"""``GET /`` and ``GET /ready``: liveness, and readiness that turns 503 while draining."""

from __future__ import annotations

from aiohttp import web

from tidings.server.context import Context


async def index(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def ready(request: web.Request) -> web.Response:
    ctx: Context = request.app["ctx"]
    if ctx.draining:
        return web.Response(status=503, text="draining")
    if not ctx.adapter.ready():
        return web.Response(status=503, text="shared state (Redis) unreachable")
    return web.Response(text="OK")
