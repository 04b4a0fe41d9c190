"""The example app, served on a free port for each test and pointed at ``tidings_server``.

Nothing here sets up tidings: its pytest plugin comes with ``pip install tidings``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from tidings.testing import TidingsServer

from app import create_app


@pytest.fixture
async def app_url(tidings_server: TidingsServer) -> AsyncIterator[str]:
    """The app's base URL, configured from ``tidings_server.env()`` as from a .env file."""
    server = TestServer(create_app(tidings_server.env()), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser-like HTTP client: it keeps the login cookie (unsafe: cookies for an IP)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session
