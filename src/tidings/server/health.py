"""``GET /``, ``GET /live`` and ``GET /ready``: the process answers; it is fit to serve (not
draining, and Redis reachable when state is shared)."""

from __future__ import annotations

from tidings.net.http import Request, Response
from tidings.server.context import Context

_TEXT = "text/plain; charset=utf-8"


class Health:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def index(self, request: Request, match: dict[str, str]) -> Response:
        return Response(200, b"OK", _TEXT)

    live = index  # a liveness probe asks only that the event loop answers

    async def ready(self, request: Request, match: dict[str, str]) -> Response:
        if self.ctx.draining:
            return Response(503, b"draining", _TEXT)
        if not self.ctx.apps.ready():
            return Response(503, b"apps not read yet (app database unreachable)", _TEXT)
        if not self.ctx.adapter.ready():
            return Response(503, b"shared state (Redis) unreachable", _TEXT)
        return Response(200, b"OK", _TEXT)
