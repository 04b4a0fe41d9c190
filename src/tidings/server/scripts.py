"""``GET /js/tidings-recovery.js`` and ``.mjs``: the pusher-js add-on (docs/history.md), served
from the package so a page loads the one that matches its server."""

from __future__ import annotations

from importlib import resources

from tidings.net.http import Request, Response

SCRIPTS = ("tidings-recovery.js", "tidings-recovery.mjs")
_JAVASCRIPT = "text/javascript; charset=utf-8"
# Any page may load it (it holds no secret); revalidated often so an upgrade shows up soon.
_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


class Scripts:
    def __init__(self) -> None:
        static = resources.files("tidings") / "static"
        self._bodies = {name: (static / name).read_bytes() for name in SCRIPTS}

    def paths(self) -> list[str]:
        return [f"/js/{name}" for name in SCRIPTS]

    async def __call__(self, request: Request, match: dict[str, str]) -> Response:
        name = request.path.rsplit("/", 1)[-1]
        return Response(200, self._bodies[name], _JAVASCRIPT, _HEADERS)
