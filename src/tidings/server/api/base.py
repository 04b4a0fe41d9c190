"""What every API endpoint shares: app lookup, signature check, rate limits, JSON errors."""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from bisect import bisect_left
from dataclasses import dataclass
from time import perf_counter
from typing import Any, ClassVar

import orjson

from tidings.apps import App
from tidings.hub.base import HubUnavailable
from tidings.metrics.figures import LATENCY_BOUNDS, Figures
from tidings.metrics.figures import Endpoint as EndpointFigures
from tidings.net.http import Request, Response
from tidings.protocol.channels import channel_name_problem
from tidings.protocol.errors import ApiError
from tidings.protocol.signatures import verify_api_request
from tidings.server.context import Context

MAX_BODY_BYTES = 10 * 1024 * 1024
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

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # The metrics' endpoint label: TriggerEvent -> trigger_event.
        self.name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        # Each app's figures for this endpoint, found once: one dict lookup per request.
        self._observed: dict[str, EndpointFigures] = {}

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
        started = perf_counter()
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
            api_request = ApiRequest(app, params, request.body, match)
            body = await self.handle(api_request)
            response = _NOTHING_RESPONSE if body is NOTHING else json_response(body)
        except ApiError as error:
            response = self._failed(request, app, error)
        except HubUnavailable as error:
            response = self._failed(request, app, ApiError(503, str(error), {"Retry-After": "1"}))
        # Counted here, inline (Endpoint.observe, unrolled): this runs for every API request.
        observed = self._observed.get(app.id if app is not None else Figures.UNKNOWN_APP)
        if observed is None:
            observed = self._observe(app)
        statuses, status = observed.statuses, response.status
        statuses[status] = statuses.get(status, 0) + 1
        latency, elapsed = observed.latency, perf_counter() - started
        latency.buckets[bisect_left(LATENCY_BOUNDS, elapsed)] += 1
        latency.total += elapsed
        return response

    def _observe(self, app: App | None) -> EndpointFigures:
        app_id = app.id if app is not None else Figures.UNKNOWN_APP
        observed = self._observed[app_id] = self.ctx.figures.app(app_id).endpoints[self.name]
        return observed

    def _failed(self, request: Request, app: App | None, error: ApiError) -> Response:
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
