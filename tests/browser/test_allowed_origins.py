"""An app limited to its own site's origins: a page served from one of them connects and gets
events, a page on another origin is refused with 4009 and pusher-js does not retry, and an app
without the setting takes any origin. Real Chromium, pages on two loopback origins."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.raw_client import sdk_for
from tests.support.server import ROOT, AppSpec, TidingsServer

PUSHER_JS = ROOT / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"
PAGE = b"""<!doctype html>
<title>loading</title>
<script src="/pusher.min.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  window.seen = { states: [], errors: [], events: [] };
  const pusher = new Pusher(params.get("key"), {
    cluster: "local", wsHost: params.get("host"), wsPort: Number(params.get("port")),
    forceTLS: false, enabledTransports: ["ws"], disableStats: true,
  });
  pusher.connection.bind("state_change", (change) => seen.states.push(change.current));
  pusher.connection.bind("error", (error) => seen.errors.push(error));
  const lobby = pusher.subscribe("lobby");
  lobby.bind("pusher:subscription_succeeded", () => { document.title = "subscribed"; });
  lobby.bind("hello", (data) => seen.events.push(data));
  window.pusherClient = pusher;
</script>
"""


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/pusher.min.js"):
            body, kind = PUSHER_JS.read_bytes(), "text/javascript"
        else:
            body, kind = PAGE, "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, int]]:
    """The same page served on two loopback addresses: two origins to the browser."""
    servers = {host: ThreadingHTTPServer((host, 0), _Site) for host in ("127.0.0.1", "127.0.0.2")}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {host: server.server_address[1] for host, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


RESTRICTED = AppSpec(id="5001", key="restricted-key", secret="restricted-secret")
OPEN = AppSpec(id="5002", key="open-key", secret="open-secret")


@pytest.fixture(scope="module")
def tidings(sites: dict[str, int]) -> Iterator[TidingsServer]:
    port = sites["127.0.0.1"]
    RESTRICTED.settings["allowed_origins"] = [
        f"http://127.0.0.1:{port}",
        f"http://*.localhost:{port}",
    ]
    with TidingsServer([RESTRICTED, OPEN]) as server:
        yield server


@pytest.fixture
def open_page(browser: Browser, tidings: TidingsServer) -> Iterator[Callable[[str, AppSpec], Page]]:
    contexts = []

    def open_at(origin: str, app: AppSpec) -> Page:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{origin}/?key={app.key}&host={tidings.host}&port={tidings.port}")
        return page

    yield open_at
    for context in contexts:
        context.close()


def subscribed_and_gets(page: Page, tidings: TidingsServer, app: AppSpec) -> None:
    page.wait_for_function("document.title === 'subscribed'")
    sdk = sdk_for(_AppTarget(tidings, app))
    sdk.trigger("lobby", "hello", {"to": "lobby"})
    page.wait_for_function("seen.events.length === 1")
    assert page.evaluate("seen.events") == [{"to": "lobby"}]


class _AppTarget:
    """``tidings`` seen through another of its apps, for ``sdk_for``."""

    def __init__(self, server: TidingsServer, app: AppSpec) -> None:
        self.host, self.port, self.app = server.host, server.port, app


def test_a_page_on_an_allowed_origin_connects_and_gets_events(
    open_page: Callable[[str, AppSpec], Page], sites: dict[str, int], tidings: TidingsServer
) -> None:
    page = open_page(f"http://127.0.0.1:{sites['127.0.0.1']}", RESTRICTED)
    subscribed_and_gets(page, tidings, RESTRICTED)


def test_a_subdomain_matches_the_wildcard_pattern(
    open_page: Callable[[str, AppSpec], Page], sites: dict[str, int], tidings: TidingsServer
) -> None:
    # Chromium resolves every *.localhost name to loopback by itself.
    page = open_page(f"http://shop.localhost:{sites['127.0.0.1']}", RESTRICTED)
    subscribed_and_gets(page, tidings, RESTRICTED)


def test_a_page_on_another_origin_is_refused_with_4009_and_pusher_js_gives_up(
    open_page: Callable[[str, AppSpec], Page], sites: dict[str, int], tidings: TidingsServer
) -> None:
    origin = f"http://127.0.0.2:{sites['127.0.0.2']}"
    page = open_page(origin, RESTRICTED)
    # A refusal in the handshake reaches pusher-js's error handlers wrapped in a WebSocketError.
    refusals = "seen.errors.map((e) => e.error.data).filter((d) => d && d.code === 4009)"
    page.wait_for_function(f"{refusals}.length > 0 && seen.states.at(-1) === 'disconnected'")
    (error,) = page.evaluate(refusals)
    assert error["message"] == f"Origin {origin} is not allowed for this app"
    assert page.evaluate("pusherClient.connection.retryTimer") is None  # no reconnect pending
    assert page.title() != "subscribed"
    assert sdk_for(_AppTarget(tidings, RESTRICTED)).channels_info() == {"channels": {}}


def test_an_app_without_the_setting_takes_any_origin(
    open_page: Callable[[str, AppSpec], Page], sites: dict[str, int], tidings: TidingsServer
) -> None:
    page = open_page(f"http://127.0.0.2:{sites['127.0.0.2']}", OPEN)
    subscribed_and_gets(page, tidings, OPEN)
