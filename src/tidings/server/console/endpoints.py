"""The console's HTTP side: the page, the app list, and the event creator.

Every request passes ``ConsoleAccess`` first. Nothing here ever puts an app's secret in a
response: the page knows app ids and keys, and the event creator publishes through the
server's own path (``tidings.server.api.trigger.publish``) instead of signing anything.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from abc import ABC, abstractmethod
from importlib import resources
from typing import Any, ClassVar

import orjson

from tidings.hub import HubUnavailable
from tidings.net.http import Request, Response
from tidings.protocol.errors import ApiError
from tidings.server.api.base import error_response, json_response
from tidings.server.api.trigger import parse_trigger, publish
from tidings.server.console.access import ConsoleAccess, presented_token
from tidings.server.console.filters import KINDS
from tidings.server.context import Context

_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
# The page carries the token in its address: it must not leak through a Referer or a cache.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@functools.cache  # tidings.testing builds an application per test
def build_page() -> tuple[bytes, dict[str, str]]:
    """console.html with its stylesheet and script inlined (one request, so only the page's
    own address has to carry the token), and its headers: a Content-Security-Policy that lets
    exactly that script and style run and the page talk to this server alone."""
    static = resources.files("tidings.server.console") / "static"
    html = (static / "console.html").read_text()
    css = (static / "console.css").read_text()
    script = (static / "console.js").read_text()
    kinds = orjson.dumps(KINDS).decode()
    html = html.replace("<!-- kinds -->", kinds)
    html = html.replace("<!-- console.css -->", f"<style>{css}</style>")
    html = html.replace("<!-- console.js -->", f"<script>{script}</script>")
    policy = (
        f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(css)}; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html.encode(), {**_PAGE_HEADERS, "Content-Security-Policy": policy}


class ConsoleEndpoint(ABC):
    method: ClassVar[str]
    path: ClassVar[str]

    def __init__(self, ctx: Context, access: ConsoleAccess) -> None:
        self.ctx = ctx
        self.access = access

    async def __call__(self, request: Request, match: dict[str, str]) -> Response:
        refusal = self.access.refusal(presented_token(request.headers, request.query))
        if refusal == 404:
            message = f"Not Found: {request.method} {request.path} is not part of this API"
            return error_response(ApiError(404, message))
        if refusal == 401:
            return self.unauthorized()
        try:
            return await self.handle(request, match)
        except ApiError as error:
            return error_response(error)
        except HubUnavailable as error:
            return error_response(ApiError(503, str(error), {"Retry-After": "1"}))

    def unauthorized(self) -> Response:
        return error_response(ApiError(401, "The console token is missing or wrong"))

    @abstractmethod
    async def handle(self, request: Request, match: dict[str, str]) -> Response: ...


class ConsolePage(ConsoleEndpoint):
    method = "GET"
    path = "/console"

    def __init__(self, ctx: Context, access: ConsoleAccess) -> None:
        super().__init__(ctx, access)
        self.page, self.headers = build_page()

    def unauthorized(self) -> Response:
        text = (
            "401 Unauthorized: this console needs its token. Open /console?token=YOUR_TOKEN, "
            "where YOUR_TOKEN is [server] console_token (or TIDINGS_CONSOLE_TOKEN).\n"
        )
        return Response(401, text.encode(), _TEXT, _PAGE_HEADERS)

    async def handle(self, request: Request, match: dict[str, str]) -> Response:
        return Response(200, self.page, _HTML, self.headers)


class ListConsoleApps(ConsoleEndpoint):
    method = "GET"
    path = "/console/api/apps"

    async def handle(self, request: Request, match: dict[str, str]) -> Response:
        apps = [{"id": app.id, "key": app.key} for app in self.access.apps()]
        return json_response({"apps": apps}, headers={"Cache-Control": "no-store"})


class CreateConsoleEvent(ConsoleEndpoint):
    """The event creator: ``{"channel", "event", "data"}`` published as an API trigger."""

    method = "POST"
    path = "/console/api/apps/{app_id}/events"

    async def handle(self, request: Request, match: dict[str, str]) -> Response:
        # JSON only: a form on another site cannot post that without a CORS preflight.
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ApiError(415, "Send the event as JSON (Content-Type: application/json)")
        app = self.access.app(match["app_id"])
        if app is None:
            raise ApiError(404, f"The app {match['app_id']} is not in this console")
        try:
            body: Any = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, 'Send {"channel": "...", "event": "...", "data": "..."}')
        item = {"name": body.get("event"), "channel": body.get("channel"), "data": body.get("data")}
        if "data" not in body:
            del item["data"]
        trigger = parse_trigger(app, item, single_channel=True)
        await publish(self.ctx, app, [trigger], first_counted=False)  # no api.base Endpoint
        return json_response({"channel": trigger.channels[0], "event": trigger.name})
