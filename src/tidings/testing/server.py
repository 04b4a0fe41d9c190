"""A tidings in a background thread of the test process.

One listening port for a whole test session, and a fresh state for every test (``reset``;
see ``tidings.testing.state``). The server has its own event loop, so synchronous tests,
asyncio tests and other test runners all talk to it the same way: over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tidings.apps import App, WebhookTarget
from tidings.config import WEBHOOK_EVENT_TYPES, ConfigError, ServerSettings
from tidings.eventloop import run_async
from tidings.events import PublishObserver
from tidings.net.listener import Listener
from tidings.server.app import Application
from tidings.server.runner import limits_for
from tidings.testing.state import (
    APP_ID,
    APP_KEY,
    APP_SECRET,
    State,
    Switch,
    app_settings,
    server_settings,
)

T = TypeVar("T")


class TidingsServer:
    """A tidings serving one test app on a free port of 127.0.0.1, in memory.

    ``start()`` it (or use ``tidings.testing.run()``), ``reset()`` it before each test, read
    where it is from ``url``/``ws_url``/``env()``, ``stop()`` it at the end.
    """

    host = "127.0.0.1"

    def __init__(self, server: Mapping[str, Any] | None = None, **app: Any) -> None:
        self._app_values = dict(app)
        self._server_values = dict(server or {})
        app_settings(self._app_values)  # refuse bad settings here, in the caller's thread
        server_settings(self._server_values)
        self.port = 0
        self.started_in: float | None = None  # seconds start() took
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._listener: Listener | None = None
        self._switch: Switch | None = None
        self._state: State | None = None
        self._root: Path | None = None
        self._resets = 0
        self._failure: list[BaseException] = []  # what the server's thread died of
        # Copied on write and handed to each context whole: the server thread iterates it
        # while the test thread attaches recorders.
        self._observers: list[PublishObserver] = []

    # -- where it is ----------------------------------------------------------------------------
    @property
    def app_id(self) -> str:
        return APP_ID

    @property
    def key(self) -> str:
        return APP_KEY

    @property
    def secret(self) -> str:
        return APP_SECRET

    @property
    def url(self) -> str:
        """The HTTP API's base URL (what the server SDKs call ``host`` and ``port``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The app's WebSocket URL, as pusher-js builds it."""
        return f"ws://{self.host}:{self.port}/app/{APP_KEY}?protocol=7&client=tidings-testing"

    @property
    def app(self) -> App:
        """The app as the current test configured it."""
        return self._current().apps.app

    def env(self) -> dict[str, str]:
        """Environment variables that point an application under test at this server: the
        integration guide's names, their browser-side twins and Laravel's."""
        port = str(self.port)
        return {
            "PUSHER_APP_ID": APP_ID,
            "PUSHER_KEY": APP_KEY,
            "PUSHER_SECRET": APP_SECRET,
            "PUSHER_APP_KEY": APP_KEY,
            "PUSHER_APP_SECRET": APP_SECRET,
            "PUSHER_HOST": self.host,
            "PUSHER_PORT": port,
            "PUSHER_SCHEME": "http",
            "PUSHER_USE_TLS": "false",
            "PUSHER_CLUSTER": "local",
            "NEXT_PUBLIC_PUSHER_KEY": APP_KEY,
            "NEXT_PUBLIC_PUSHER_CLUSTER": "local",
            "NEXT_PUBLIC_PUSHER_HOST": self.host,
            "NEXT_PUBLIC_PUSHER_PORT": port,
        }

    # -- life cycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> TidingsServer:
        if self._thread is not None:
            raise RuntimeError("this TidingsServer is already started")
        began = time.perf_counter()
        ready = threading.Event()
        failure = self._failure
        self._thread = threading.Thread(
            target=self._main, args=(ready, failure), name="tidings-testing", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"tidings.testing: the server did not start within {timeout} s")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        self.started_in = time.perf_counter() - began
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None
        if thread.is_alive():
            raise RuntimeError(
                f"tidings.testing: the server did not stop within {timeout} s; {_pending(loop)}"
            )
        if self._failure:
            raise RuntimeError("tidings.testing: the server failed") from self._failure[0]

    def __enter__(self) -> TidingsServer:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self, server: Mapping[str, Any] | None = None, **app: Any) -> None:
        """Throw the state away and serve the app with these settings (over the ones given at
        construction) from now on. Sockets still open are closed with code 4099."""
        values = {**self._app_values, **app}
        settings = {**self._server_values, **(server or {})}
        new_app, new_server = app_settings(values), server_settings(settings)  # raise here
        self.call(self._reset(new_app, new_server))

    def webhooks_to(
        self,
        url: str,
        event_types: tuple[str, ...] | list[str] = (),
        channel_prefix: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send this test's webhooks (all kinds unless ``event_types``) to ``url`` too, signed
        with the app's secret. Until the next reset; sockets opened before keep their app."""
        unknown = set(event_types) - set(WEBHOOK_EVENT_TYPES)
        if unknown:
            raise ConfigError(f"unknown webhook event type(s) {', '.join(sorted(unknown))}")
        target = WebhookTarget(
            url, tuple(event_types or WEBHOOK_EVENT_TYPES), channel_prefix,
            tuple(sorted((headers or {}).items())),
        )  # fmt: skip
        self.call(self._add_webhook(target))

    def observe(self, observer: PublishObserver) -> Callable[[], None]:
        """Call ``observer`` in the server's thread with every event published from now on;
        returns the function that stops it. Observers stay across resets."""
        self._in_loop(lambda: self._set_observers([*self._observers, observer]))

        def stop() -> None:
            def detach() -> None:
                self._set_observers([o for o in self._observers if o is not observer])

            if self._thread is not None and self._thread.is_alive():
                self._in_loop(detach)
            else:
                detach()

        return stop

    # -- the server's thread ---------------------------------------------------------------------
    def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            run_async(self._serve(ready))  # on uvloop, as in production
        except BaseException as error:
            failure.append(error)
        finally:
            ready.set()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._root = Path(tempfile.mkdtemp(prefix="tidings-testing-"))
        sock = socket.create_server((self.host, 0), backlog=512)
        self.port = sock.getsockname()[1]
        state = await self._open(
            app_settings(self._app_values), server_settings(self._server_values)
        )
        self._switch = Switch(Application(state.ctx))
        self._listener = Listener(self._switch, limits_for(state.ctx.config.server))
        await self._listener.start(sock)
        self._state = state
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._current().close(self._listener)

    async def _open(self, app: App, server: ServerSettings) -> State:
        self._resets += 1
        assert self._root is not None
        data_dir = self._root / f"state-{self._resets}"
        return await State.open(app, server, self.port, data_dir, self._observers)

    async def _reset(self, app: App, server: ServerSettings) -> None:
        old = self._current()
        state = await self._open(app, server)
        assert self._switch is not None
        self._switch.current = Application(state.ctx)  # new sockets and requests go there
        self._state = state
        await old.close()

    async def _add_webhook(self, target: WebhookTarget) -> None:
        await self._current().add_webhook(target)

    def _set_observers(self, observers: list[PublishObserver]) -> None:
        self._observers = observers
        if self._state is not None:
            self._state.ctx.publish_observers = observers

    def _current(self) -> State:
        if self._state is None:
            raise RuntimeError("tidings.testing: the server is not running; start() it first")
        return self._state

    # -- calling into the server's thread ------------------------------------------------------
    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coroutine`` on the server's event loop and return its result: for helpers
        that live in the server's thread, like the webhook receiver."""
        loop = self._loop
        if loop is None or self._thread is None:
            coroutine.close()
            raise RuntimeError("tidings.testing: the server is not running; start() it first")
        if threading.current_thread() is self._thread:
            raise RuntimeError("tidings.testing: call this from the test, not the server thread")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise RuntimeError(
                f"tidings.testing: the server did not answer within {timeout} s; {_pending(loop)}"
            ) from None

    def _in_loop(self, action: Callable[[], None]) -> None:
        async def run() -> None:
            action()

        if self._thread is not None and threading.current_thread() is self._thread:
            action()
        else:
            self.call(run())


def _pending(loop: asyncio.AbstractEventLoop) -> str:
    """What the server's loop is still waiting on, for an error that says where it hangs."""
    try:
        tasks = list(asyncio.all_tasks(loop))  # read across threads: a stuck loop holds still
    except RuntimeError:  # the set changed while read
        return "its tasks could not be listed"
    return "pending in its loop:\n" + "\n".join(f"  {task!r}" for task in tasks)


@contextlib.contextmanager
def run(server: Mapping[str, Any] | None = None, **app: Any) -> Iterator[TidingsServer]:
    """``with tidings.testing.run(enable_client_events=True) as server:`` — a started server
    for unittest and other runners; call ``server.reset()`` between tests."""
    instance = TidingsServer(server, **app).start()
    try:
        yield instance
    finally:
        instance.stop()
