from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer


@pytest.fixture
def pusher_js() -> Iterator[Callable[..., PusherJsDriver]]:
    """Start a Node process hosting real pusher-js clients for a server; closed at teardown."""
    drivers: list[PusherJsDriver] = []

    def start(server: TidingsServer, **kwargs: Any) -> PusherJsDriver:
        driver = PusherJsDriver(server, **kwargs).start()
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.close()
