"""What every API endpoint shares: app lookup, signature check, rate limits, JSON errors."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, ClassVar

import orjson

from tidings.apps import App
from tidings.hub.base import HubUnavailable
from tidings.metrics.figures import Endpoint as EndpointFigures
from tidings.metrics.figures import Figures
from tidings.net.http import Request, Response
from tidings.protocol.channels import channel_name_problem
from tidings.protocol.errors import ApiError
from tidings.protocol.signatures import verify_api_request
from tidings.server.context import Context

MAX_BODY_BYTES = 10 * 1024 * 1024
TIMED_EVERY = 0.01  # seconds: at most ~100 timed requests a second per endpoint and process
log = logging.getLogger("tidings.api")


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class ApiRequest:
    app: App
    params: dict[str, str]
    body: bytes
    match: dict[str, str]

    def channel_name(self) -> str:
        """The ``{channel_name}`` of the path, refused with 400 if it is no valid name."""
        name = self.match["channel_name"]
        problem = channel_name_problem(name, self.app.max_channel_name_length)
        if problem:
            raise ApiError(400, problem)
        return name

    def json(self) -> dict[str, Any]:
        try:
            value = orjson.loads(self.body or b"{}")
        except orjson.JSONDecodeError:
            raise ApiError(400, "The request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise ApiError(400, "The request body must be a JSON object")
        return value


# What most successful calls answer: an endpoint returns NOTHING, and it goes out pre-built.
NOTHING: dict[str, Any] = {}
_NOTHING_RESPONSE = Response(200, b"{}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(body), headers=headers)


def error_response(error: ApiError) -> Response:
    return json_response(
        {"error": error.message, "code": error.status}, error.status, error.headers or None
    )


class Endpoint(ABC):
    method: ClassVar[str]
    paths: ClassVar[tuple[str, ...]]
    reads: ClassVar[bool] = False  # counts against max_read_req_per_sec
    events_per_answer: ClassVar[int] = 0  # 1 if each 200 published an event (the first)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # The metrics' endpoint label: TriggerEvent -> trigger_event.
        self.name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        # Each app's 200 counter for this endpoint: one dict lookup and one C call per request.
        self._answered: dict[str, Callable[[], int]] = {}
        self.time_next = True  # see _time_later

    @abstractmethod
    async def handle(self, request: ApiRequest) -> Any:
        """Return the JSON body of a 200 response, or raise ApiError."""

    def find_app(self, request: Request, match: dict[str, str]) -> App:
        app_id = match.get("app_id")
        if app_id is not None:
            app = self.ctx.apps.by_id(app_id)
            if app is None:
                raise ApiError(404, f"The app {app_id} could not be found.")
            return app
        # pusher-http-python posts terminate_connections without /apps/{id}: use auth_key.
        app = self.ctx.apps.by_key(request.query.get("auth_key", ""))
        if app is None:
            raise ApiError(401, "Unknown auth_key")
        return app

    async def __call__(self, request: Request, match: dict[str, str]) -> Response:
        started = 0.0
        if self.time_next:  # a sample of the requests is timed: see _time_later
            started = self._time_later()
        app: App | None = None
        # The network layer has already refused bodies over MAX_BODY_BYTES, with a 413.
        try:
            app = self.find_app(request, match)
            params = request.query
            verify_api_request(
                key=app.key,
                secret=app.secret,
                method=request.method,
                path=request.path,
                params=request.query_items,
                body=request.body,
                now=time.time(),
                query=params,
            )
            if not app.enabled:
                raise ApiError(403, "The app is disabled")
            if self.reads and app.max_read_req_per_sec >= 0:
                await self.limit(app, "read", 1, app.max_read_req_per_sec)
            body = await self.handle(ApiRequest(app, params, request.body, match))
        except ApiError as error:
            return self._failed(request, app, error, started)
        except HubUnavailable as error:
            unavailable = ApiError(503, str(error), {"Retry-After": "1"})
            return self._failed(request, app, unavailable, started)
        try:
            self._answered[app.id]()  # counted: see Tally
        except KeyError:
            self._answered[app.id] = self._figures(app).answered.bump
            self._answered[app.id]()
        response = _NOTHING_RESPONSE if body is NOTHING else json_response(body)
        if started:
            self._figures(app).latency.observe(perf_counter() - started)
        return response

    def _time_later(self) -> float:
        """Start timing this request, and the next one that comes TIMED_EVERY seconds from now.

        Two clock reads and a histogram update cost more than 1 µs per request in place (about
        5% of a trigger), so the latency histogram holds a sample: every request while they
        come slower than one per TIMED_EVERY per endpoint, about 1/TIMED_EVERY a second when
        faster. The apps of an endpoint share it (which app a request is for is known only
        later). A timer only runs while requests come: an idle server has none."""
        self.time_next = False
        asyncio.get_running_loop().call_later(TIMED_EVERY, setattr, self, "time_next", True)
        return perf_counter()

    def _figures(self, app: App | None) -> EndpointFigures:
        app_id = app.id if app is not None else Figures.UNKNOWN_APP
        figures = self.ctx.figures.app(app_id).endpoints[self.name]
        figures.events_per_answer = self.events_per_answer
        return figures

    def _failed(
        self, request: Request, app: App | None, error: ApiError, started: float
    ) -> Response:
        figures = self._figures(app)
        figures.fail(error.status)
        if started:
            figures.latency.observe(perf_counter() - started)
        if error.status == 429 and app is not None:
            self.ctx.figures.app(app.id).api_rate_limited += 1
        # The path only: the query string holds the request's signature.
        level = logging.WARNING if error.status >= 500 else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s answered %d: %s",
                request.method, request.path, error.status, error.message,
                extra={
                    "app_id": app.id if app is not None else None,
                    "endpoint": self.name,
                    "status": error.status,
                },
            )  # fmt: skip
        return error_response(error)

    async def limit(self, app: App, bucket: str, points: int, per_second: int) -> None:
        decision = await self.ctx.rate_limiter.consume(f"{app.id}:{bucket}", points, per_second)
        if not decision.allowed:
            raise ApiError(
                429,
                f"Too many requests: the limit is {per_second} {bucket} points per second",
                {
                    "X-RateLimit-Limit": str(decision.limit),
                    "X-RateLimit-Remaining": str(decision.remaining),
                    "Retry-After": str(max(1, round(decision.retry_after))),
                },
            )
