"""Shared bits of the demo's HTTP layer: typed app keys and JSON request/response helpers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tidings_demo.config import DemoConfig

CONFIG = web.AppKey("config", DemoConfig)


def config_of(request: web.Request) -> DemoConfig:
    return request.app[CONFIG]


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (bad JSON, an array, empty)."""
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def present(value: object) -> bool:
    """The guide's ``!field`` test, minus JS quirks: absent, null and "" count as missing."""
    return value is not None and value != ""
