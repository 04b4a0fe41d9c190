from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.support.postgres_server import PostgresServer
from tests.support.redis_cluster import RedisClusterSetup
from tests.support.server import AppSpec, TidingsServer

# Property tests (tests/**/test_*_properties.py) and the schema fuzzer share two budgets. "ci",
# the default, is small and derandomised: the same inputs on every run, so CI stays fast and a
# failure reproduces. "long" is for a developer hunting: many more, random, inputs, with the
# examples that failed kept in .hypothesis/ and tried first next time. Pick it with
# `pytest --hypothesis-profile=long` or TIDINGS_FUZZ=long (which the raw WebSocket fuzzer and
# bench/soak.py read too). No deadline in either: this machine is shared, and timing is bench/'s.
settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("TIDINGS_FUZZ", "ci"))


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


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterSetup]:
    """A real 3-master Redis Cluster for a module's tests (tests/support/redis_cluster.py)."""
    with RedisClusterSetup() as cluster:
        yield cluster
