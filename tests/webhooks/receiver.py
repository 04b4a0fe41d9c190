"""A webhook receiver for tests: a real aiohttp server on a free port that records every request
and can be told to fail, hang or be down; plus both official SDKs' webhook validators."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pusher
from aiohttp import web

from tests.support.server import ROOT, AppSpec, free_port

NODE_VALIDATOR = Path(__file__).with_name("validate_webhook.js")


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names, as Node hands them to pusher.webhook()
    body: bytes
    status: int

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.body)["events"]
        return events


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Received] = []
        self._failures: list[int] = []  # statuses to answer with, next request first
        self._hangs = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/webhooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail_next(self, count: int, status: int = 500) -> None:
        self._failures += [status] * count

    def hang_next(self, count: int) -> None:
        self._hangs += count

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self._failures.pop(0) if self._failures else 200
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(Received(request.path, headers, body, status))
        if self._hangs:
            self._hangs -= 1
            await asyncio.sleep(3)
        return web.Response(status=status, text="ok" if status == 200 else "no")

    @property
    def accepted(self) -> list[Received]:
        return [request for request in self.requests if request.status == 200]

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every event of every accepted request (to ``path``), in arrival order. Delivery is at
        least once, so a body seen twice (a retry after a slow answer) counts once, as the docs
        tell receivers to do."""
        bodies = {
            request.body: request
            for request in self.accepted
            if path is None or request.path == path
        }
        return [event for request in bodies.values() for event in request.events]

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "webhooks"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                seen = [(r.status, r.body.decode()) for r in self.requests]
                raise TimeoutError(f"no {what} within {timeout}s; received {seen}")
            await asyncio.sleep(0.02)


def python_sdk_accepts(request: Received, app: AppSpec) -> bool:
    """``pusher.Pusher.validate_webhook``: key, HMAC of the raw body, time_ms within 5 minutes."""
    client = pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret)
    data = client.validate_webhook(
        key=request.headers.get("x-pusher-key", ""),
        signature=request.headers.get("x-pusher-signature", ""),
        body=request.body.decode(),
    )
    return data is not None and data == json.loads(request.body)


def node_sdk_accepts(requests: list[Received], app: AppSpec) -> list[bool]:
    """``new Pusher(...).webhook({headers, rawBody}).isValid()`` from the Node SDK, per request
    (it also insists on Content-Type exactly ``application/json``)."""
    cases = [
        {
            "app": {"appId": app.id, "key": app.key, "secret": app.secret},
            "headers": request.headers,
            "body": request.body.decode(),
        }
        for request in requests
    ]
    result = subprocess.run(
        ["node", str(NODE_VALIDATOR)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=True,
    )
    verdicts = json.loads(result.stdout)
    return [
        verdict["valid"] and verdict["events"] == request.events
        for verdict, request in zip(verdicts, requests, strict=True)
    ]


def webhook_settings(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """[server] settings with webhook timings short enough for tests."""
    return {
        "data_dir": str(data_dir),
        "webhook_batch_window": 0.05,
        "webhook_vacate_delay": 0.3,
        "webhook_backoff_base": 0.05,
        "webhook_backoff_max": 0.5,
        "webhook_timeout": 5.0,
        **overrides,
    }
