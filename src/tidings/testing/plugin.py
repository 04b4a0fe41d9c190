"""The pytest plugin: fixtures, the ``--tidings-app`` option and the ``tidings`` marker.

Registered through the ``pytest11`` entry point, so it is active wherever tidings is
installed. It costs nothing in a suite that does not use it: nothing is imported or started
until a test asks for one of its fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pusher

    from tidings.testing.client import (
        Authorizer,
        PusherSocket,
        SocketFactory,
        UserAuthenticator,
    )
    from tidings.testing.recorder import EventRecorder
    from tidings.testing.server import TidingsServer
    from tidings.testing.webhooks import WebhookReceiver

MARKER = "tidings"
OPTION_HELP = (
    "a setting of tidings.testing's app for every test, NAME=VALUE (repeatable), e.g. "
    "enable_client_events=true; server.NAME=VALUE for a server setting"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tidings", "tidings.testing: a Pusher server in the test process")
    group.addoption(
        "--tidings-app", action="append", default=[], metavar="NAME=VALUE", help=OPTION_HELP
    )
    parser.addini("tidings_app", OPTION_HELP + " (one per line)", type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(server=None, **app_settings): settings of tidings.testing's app (and "
        "server) for the marked tests, modules or classes; the closest marker wins",
    )
    _option_settings(config)  # a malformed --tidings-app stops the run here, not in a test


def _option_settings(config: pytest.Config) -> tuple[dict[str, Any], dict[str, Any]]:
    app: dict[str, Any] = {}
    server: dict[str, Any] = {}
    lines = [*config.getini("tidings_app"), *config.getoption("tidings_app")]
    for line in lines:
        name, equals, value = str(line).partition("=")
        if not equals:
            raise pytest.UsageError(f"--tidings-app {line!r}: expected NAME=VALUE")
        name = name.strip()
        if name.startswith("server."):
            server[name.removeprefix("server.")] = value.strip()
        else:
            app[name] = value.strip()
    return app, server


def _marker_settings(node: pytest.Item) -> tuple[dict[str, Any], dict[str, Any]]:
    app: dict[str, Any] = {}
    server: dict[str, Any] = {}
    # iter_markers yields the closest first: apply the farthest first so the closest wins.
    for marker in reversed(list(node.iter_markers(MARKER))):
        if marker.args:
            raise ValueError("it takes keyword arguments only: setting=value")
        kwargs = dict(marker.kwargs)
        server.update(kwargs.pop("server", None) or {})
        app.update(kwargs)
    return app, server


@pytest.fixture(scope="session")
def tidings_server(request: pytest.FixtureRequest) -> Iterator[TidingsServer]:
    """A tidings on a free port of 127.0.0.1, in memory, for the session; reset before
    each test that uses it, with that test's ``tidings`` marker settings."""
    from tidings.config import ConfigError
    from tidings.testing.server import TidingsServer

    app, server = _option_settings(request.config)
    try:
        instance = TidingsServer(server, **app)
    except ConfigError as error:
        raise pytest.UsageError(f"--tidings-app / tidings_app: {error}") from None
    with instance.start():
        yield instance


@pytest.fixture
def _tidings_fresh(request: pytest.FixtureRequest, tidings_server: TidingsServer) -> TidingsServer:
    """The server, reset for this test."""
    from tidings.config import ConfigError

    try:
        app, server = _marker_settings(request.node)
        tidings_server.reset(server, **app)
    except (ConfigError, ValueError, TypeError) as error:
        pytest.fail(f"@pytest.mark.{MARKER}: {error}", pytrace=False)
    return tidings_server


@pytest.fixture(autouse=True)
def _tidings_reset(request: pytest.FixtureRequest) -> None:
    # A test that reaches the server only through a session- or module-scoped fixture of its
    # own still gets a fresh state; a suite that never uses the server pays this `in` only.
    if "tidings_server" in request.fixturenames:
        request.getfixturevalue("_tidings_fresh")


@pytest.fixture(scope="session")
def pusher_client(tidings_server: TidingsServer) -> pusher.Pusher:
    """The official ``pusher.Pusher`` server SDK, configured for ``tidings_server``."""
    try:
        import pusher
    except ImportError:
        pytest.fail("pusher_client needs the Pusher SDK: pip install pusher", pytrace=False)
    return pusher.Pusher(
        app_id=tidings_server.app_id,
        key=tidings_server.key,
        secret=tidings_server.secret,
        host=tidings_server.host,
        port=tidings_server.port,
        ssl=False,
    )


@pytest.fixture
def tidings_events(_tidings_fresh: TidingsServer) -> Iterator[EventRecorder]:
    """Everything published on the server during this test, and ways to wait for it."""
    from tidings.testing.recorder import EventRecorder

    recorder = EventRecorder()
    recorder.attach(_tidings_fresh.observe)
    yield recorder
    recorder.detach()


@pytest.fixture(scope="session")
def _tidings_webhook_receiver(tidings_server: TidingsServer) -> Iterator[WebhookReceiver]:
    from tidings.testing.webhooks import WebhookReceiver

    receiver = WebhookReceiver.start(tidings_server)
    yield receiver
    receiver.stop()


@pytest.fixture
def tidings_webhooks(
    _tidings_fresh: TidingsServer, _tidings_webhook_receiver: WebhookReceiver
) -> WebhookReceiver:
    """The server's webhooks of this test (every kind), received and checked locally."""
    _tidings_fresh.webhooks_to(_tidings_webhook_receiver.begin())
    return _tidings_webhook_receiver


async def _pusher_socket(_tidings_fresh: TidingsServer) -> AsyncIterator[SocketFactory]:
    """``await pusher_socket(auth_endpoint=None, user_auth_endpoint=None, headers=None)``: a
    connected ``PusherSocket``; those still open are closed after the test."""
    from tidings.testing.client import PusherSocket

    server = _tidings_fresh
    opened: list[PusherSocket] = []

    async def connect(
        auth_endpoint: str | Authorizer | None = None,
        user_auth_endpoint: str | UserAuthenticator | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> PusherSocket:
        socket = PusherSocket(
            server.ws_url,
            server.key,
            server.secret,
            auth_endpoint=auth_endpoint,
            user_auth_endpoint=user_auth_endpoint,
            headers=headers,
        )
        opened.append(socket)
        return await socket.connect(timeout)

    try:
        yield connect
    finally:
        for socket in opened:
            await socket.close()


def _needs_pytest_asyncio() -> None:
    pytest.fail("pusher_socket is async: pip install pytest-asyncio", pytrace=False)


# An async fixture must be pytest-asyncio's to work in its strict mode (the default) too.
pusher_socket: Any
try:
    import pytest_asyncio
except ImportError:  # said when a test asks for it, not to every suite
    pusher_socket = pytest.fixture(name="pusher_socket")(_needs_pytest_asyncio)
else:
    pusher_socket = pytest_asyncio.fixture(name="pusher_socket")(_pusher_socket)
