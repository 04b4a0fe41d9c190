"""The debug console at /console, in Chromium, watching real pusher-js clients.

The server runs the documented development app (the console's no-configuration case); the
clients are pusher-js 8 in Node. Every wait is for something the page shows, never a delay.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.browser.conftest import VIEWPORT
from tests.support.pusher_js import PusherJsClient, PusherJsDriver
from tests.support.server import AppSpec, TidingsServer, free_port

DEV_APP = AppSpec(
    id="1000",
    key="tidings-dev-key",
    secret="tidings-dev-secret",  # the documented development app
    settings={"enable_client_events": True},
)


@pytest.fixture
def server() -> Iterator[TidingsServer]:
    with TidingsServer([DEV_APP]) as instance:
        yield instance


@pytest.fixture
def driver(server: TidingsServer) -> Iterator[PusherJsDriver]:
    with PusherJsDriver(server) as instance:
        yield instance


@pytest.fixture
def open_console(browser: Browser, server: TidingsServer) -> Iterator[Callable[..., Page]]:
    """The console page, returned once its stream is live and its filter applied; uncaught
    script errors fail the test."""
    contexts = []
    errors: list[str] = []

    def open_page(query: str = "", base: TidingsServer = server) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=base.url)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"/console{query}")
        wait_live(page)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == []


def wait_live(page: Page) -> None:
    expect(page.locator("#stream-state")).to_have_text("live")
    wait_filter_applied(page)


def wait_filter_applied(page: Page) -> None:
    expect(page.locator("#controls")).to_have_attribute("data-filter", "applied")


def entry(page: Page, kind: str, channel: str | None = None) -> str:
    selector = f'#events li[data-kind="{kind}"]'
    return selector + (f'[data-channel="{channel}"]' if channel is not None else "")


def connected_client(driver: PusherJsDriver) -> tuple[PusherJsClient, str]:
    client = driver.client()
    socket_id = client.socket_id
    assert socket_id is not None
    return client, socket_id


def test_a_pusher_js_client_shows_up_with_its_subscription(
    open_console: Callable[..., Page], driver: PusherJsDriver
) -> None:
    page = open_console()
    expect(page.locator("#app-select")).to_have_value("1000")
    expect(page.locator("#connection-count")).to_have_text("0")

    client, socket_id = connected_client(driver)

    connected = page.locator(entry(page, "connected"))
    expect(connected).to_have_count(1)
    expect(connected).to_contain_text(f"socket {socket_id}")
    expect(page.locator("#connection-count")).to_have_text("1")

    client.subscribe("my-channel")

    expect(page.locator(entry(page, "subscribed", "my-channel"))).to_contain_text(socket_id)
    row = page.locator('#channels tr[data-channel="my-channel"]')
    expect(row.locator(".subscribers")).to_have_text("1")
    expect(row.locator(".members")).to_have_text("\u2013")  # an en dash: no members

    client.subscribe("presence-room", presence={"user_id": "ada", "user_info": {"n": 1}})
    presence = page.locator('#channels tr[data-channel="presence-room"]')
    expect(presence.locator(".members")).to_have_text("1")

    client.subscribe("private-chat")
    client.trigger("private-chat", "client-typing", {"who": "ada"})
    typing = page.locator(entry(page, "client_event", "private-chat"))
    expect(typing).to_contain_text("client-typing")
    expect(typing.locator("pre")).to_contain_text('"who": "ada"')

    client.unsubscribe("my-channel")
    expect(page.locator(entry(page, "unsubscribed", "my-channel"))).to_have_count(1)
    expect(row).to_have_count(0)

    client.disconnect()
    expect(page.locator(entry(page, "disconnected"))).to_contain_text(socket_id)
    expect(page.locator("#connection-count")).to_have_text("0")


def test_a_refused_subscription_shows_its_status(
    open_console: Callable[..., Page], driver: PusherJsDriver
) -> None:
    page = open_console()
    client = driver.client(secret="not-the-secret")  # its auth signatures are wrong

    client.subscribe("private-locked", wait=False)

    refused = page.locator(entry(page, "subscription_refused", "private-locked"))
    expect(refused).to_contain_text("status 401")


def test_an_event_from_the_creator_form_reaches_the_client(
    open_console: Callable[..., Page],
    driver: PusherJsDriver,
    screenshot: Callable[[Page, str], Path],
) -> None:
    page = open_console()
    client, _ = connected_client(driver)
    client.subscribe("my-channel")
    client.subscribe("presence-lobby", presence={"user_id": "grace", "user_info": {}})
    expect(page.locator('#channels tr[data-channel="my-channel"]')).to_have_count(1)

    page.fill("#creator-channel", "my-channel")
    page.fill("#creator-event", "my-event")
    page.fill("#creator-data", '{"message": "hello from the console"}')
    page.click("#creator-send")

    received = client.wait_for("my-channel", "my-event")
    assert received.data == {"message": "hello from the console"}
    expect(page.locator("#creator-result")).to_have_text("Sent my-event to my-channel")
    sent = page.locator(entry(page, "api_message", "my-channel"))
    expect(sent).to_contain_text("event my-event")
    expect(sent.locator("pre")).to_contain_text('"message": "hello from the console"')
    screenshot(page, "console")


def test_the_creator_form_says_why_an_event_was_refused(
    open_console: Callable[..., Page],
) -> None:
    page = open_console()
    page.fill("#creator-channel", "bad channel name")
    page.fill("#creator-event", "my-event")
    page.click("#creator-send")

    expect(page.locator("#creator-result")).to_contain_text("Not sent:")
    expect(page.locator("#creator-result")).to_have_class("failed")


def test_the_channel_prefix_and_kind_filters(
    open_console: Callable[..., Page], driver: PusherJsDriver
) -> None:
    page = open_console()
    page.fill("#filter-prefix", "news-")
    page.uncheck('#filter-kinds input[value="subscribed"]')
    wait_filter_applied(page)
    client, _ = connected_client(driver)
    client.subscribe("news-today")

    driver.rest.trigger("sport-today", "score", {"n": 1})
    driver.rest.trigger("news-today", "headline", {"n": 2})

    # The server sends in order: once the news event is shown, the sport one was filtered.
    expect(page.locator(entry(page, "api_message", "news-today"))).to_have_count(1)
    expect(page.locator(entry(page, "api_message", "sport-today"))).to_have_count(0)
    expect(page.locator(entry(page, "subscribed"))).to_have_count(0)
    expect(page.locator(entry(page, "connected"))).to_have_count(0)  # no channel: not news-

    page.fill("#filter-prefix", "")
    page.check('#filter-kinds input[value="subscribed"]')
    wait_filter_applied(page)
    client.subscribe("sport-today")
    expect(page.locator(entry(page, "subscribed", "sport-today"))).to_have_count(1)
    page.uncheck('#filter-kinds input[value="api_message"]')
    expect(page.locator(entry(page, "api_message", "news-today"))).to_be_hidden()


def test_pause_holds_events_until_resumed_and_the_page_keeps_a_capped_list(
    open_console: Callable[..., Page], driver: PusherJsDriver
) -> None:
    page = open_console()
    page.click("#pause")
    expect(page.locator("#stream-state")).to_have_text("paused")

    driver.rest.trigger("my-channel", "while-paused", {})

    expect(page.locator("#pause")).to_have_text("Resume (1 held)")
    expect(page.locator("#events li")).to_have_count(0)
    page.click("#pause")
    expect(page.locator(entry(page, "api_message", "my-channel"))).to_contain_text("while-paused")
    expect(page.locator("#stream-state")).to_have_text("live")

    page.fill("#cap", "10")
    page.dispatch_event("#cap", "change")
    driver.rest.trigger_batch(
        [{"channel": "my-channel", "name": f"burst-{i}", "data": "{}"} for i in range(10)]
    )
    driver.rest.trigger_batch(
        [{"channel": "my-channel", "name": f"more-{i}", "data": "{}"} for i in range(5)]
    )
    expect(page.locator("#events li").first).to_contain_text("more-4")  # newest on top
    expect(page.locator("#events li")).to_have_count(10)
    expect(page.locator("#events li").last).to_contain_text("burst-5")


def test_the_page_never_receives_the_app_secret(
    open_console: Callable[..., Page], driver: PusherJsDriver, browser: Browser
) -> None:
    page = open_console()
    bodies: list[bytes] = []
    frames: list[str] = []
    page.on("response", lambda response: bodies.append(response.body()))

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: frames.append(str(frame)))

    page.on("websocket", watch)
    page.reload()
    wait_live(page)
    client, _ = connected_client(driver)
    client.subscribe("private-secrets")
    client.trigger("private-secrets", "client-x", {"n": 1})
    page.fill("#creator-channel", "private-secrets")
    page.fill("#creator-event", "server-side")
    page.click("#creator-send")
    client.wait_for("private-secrets", "server-side")
    expect(page.locator(entry(page, "client_event", "private-secrets"))).to_have_count(1)
    expect(page.locator(entry(page, "api_message", "private-secrets"))).to_have_count(1)

    assert len(bodies) >= 3 and frames  # the page, the app list, the creator; the feed
    for body in bodies:
        assert DEV_APP.secret.encode() not in body
    for frame in frames:
        assert DEV_APP.secret not in frame
    assert json.dumps(DEV_APP.secret) not in page.content()


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    """A receiver on 127.0.0.1 that answers every webhook 200; its URL."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{receiver.server_address[1]}/webhooks"
    receiver.shutdown()
    receiver.server_close()
    thread.join()


def test_webhooks_sent_and_failed_show_up(
    open_console: Callable[..., Page], webhook_receiver: str
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/webhooks"  # nothing listens there
    hooks = [{"url": webhook_receiver}, {"url": nobody, "event_types": ["channel_occupied"]}]
    app = AppSpec(DEV_APP.id, DEV_APP.key, DEV_APP.secret, {"webhooks": hooks})
    with TidingsServer([app], {"webhook_batch_window": 0}) as hooked, PusherJsDriver(hooked) as js:
        page = open_console(base=hooked)
        client = js.client()

        client.subscribe("hooked")

        sent = page.locator(entry(page, "webhook_sent"))
        expect(sent).to_contain_text(webhook_receiver)
        expect(sent).to_contain_text("channel_occupied hooked")
        failed = page.locator(entry(page, "webhook_failed")).last  # the first attempt
        expect(failed).to_contain_text(nobody)
        expect(failed).to_contain_text("attempt 1")


OWN_APP = AppSpec("77", "own-key", "own-secret")  # test fixture credential
TOKEN = "browser-console-token"  # test fixture credential


def test_an_own_app_needs_the_console_token(
    browser: Browser, open_console: Callable[..., Page]
) -> None:
    with (
        TidingsServer([OWN_APP]) as closed,
        TidingsServer([OWN_APP], {"console_token": TOKEN}) as guarded,
        PusherJsDriver(guarded) as js,
    ):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        response = page.goto(f"{closed.url}/console")
        assert response is not None and response.status == 404  # no token set: no console
        for query in ("", "?token=wrong"):
            response = page.goto(f"{guarded.url}/console{query}")
            assert response is not None and response.status == 401
            expect(page.locator("body")).to_contain_text("/console?token=YOUR_TOKEN")
        context.close()

        console = open_console(f"?token={TOKEN}", base=guarded)
        expect(console.locator("#app-select")).to_have_value(OWN_APP.id)
        _, socket_id = connected_client(js)
        expect(console.locator(entry(console, "connected"))).to_contain_text(socket_id)
        assert OWN_APP.secret not in console.content()


def test_what_clients_send_is_shown_as_text_never_run(
    open_console: Callable[..., Page], driver: PusherJsDriver
) -> None:
    page = open_console()
    reloaded = page.reload()
    assert reloaded is not None
    assert "script-src 'sha256-" in reloaded.headers["content-security-policy"]
    wait_live(page)
    markup = "<img src=x onerror=window.pwned=1><b id=bold>bold</b>"  # no quotes: JSON keeps it
    client, _ = connected_client(driver)
    client.subscribe("private-markup")

    client.trigger("private-markup", 'client-<i id="italic">x</i>', {"html": markup})

    shown = page.locator(entry(page, "client_event", "private-markup"))
    expect(shown.locator("pre")).to_contain_text(markup)
    expect(shown).to_contain_text('event client-<i id="italic">x</i>')
    assert page.locator("#bold, #italic").count() == 0
    assert page.evaluate("window.pwned") is None
