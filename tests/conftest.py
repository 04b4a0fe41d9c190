from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.postgres_server import PostgresServer
from tests.support.server import AppSpec, TidingsServer


@pytest.fixture
def make_server() -> Iterator[Callable[..., TidingsServer]]:
    """Start a tidings process with the given apps and [server] settings; stopped at teardown."""
    started: list[TidingsServer] = []

    def start(
        apps: list[AppSpec] | None = None, server: dict[str, Any] | None = None, **app_settings: Any
    ) -> TidingsServer:
        if apps is None:
            apps = [AppSpec(settings=app_settings)]
        instance = TidingsServer(apps, server).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[TidingsServer]:
    """One server for a whole module, with client events, user auth off, subscription counts on."""
    app = AppSpec(settings={"enable_client_events": True, "enable_subscription_count": True})
    with TidingsServer([app]) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run; each test takes a database of its own."""
    with PostgresServer() as server:
        yield server
