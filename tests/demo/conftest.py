from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.support.demo import DemoProcess
from tests.support.pusher_js import PusherJsDriver


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoProcess]:
    """``tidings demo`` with its in-process tidings, serving the test app, for a whole module."""
    with DemoProcess() as process:
        yield process


@pytest.fixture
def listener(demo: DemoProcess) -> Iterator[PusherJsDriver]:
    """Real pusher-js clients (in Node) connected to the demo's tidings."""
    with PusherJsDriver(demo.tidings) as driver:  # type: ignore[arg-type]
        yield driver


@pytest.fixture
def api(demo: DemoProcess) -> Iterator[Callable[..., requests.Response]]:
    """``api("POST", "/path", json=...)`` against the demo app, with a cookie jar per test."""
    session = requests.Session()

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return session.request(method, demo.url + path, **kwargs)

    yield call
    session.close()
