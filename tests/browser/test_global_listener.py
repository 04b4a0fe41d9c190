"""The global listener on every page, the guide's curl test, and what the browser is sent."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, Response, expect

from tests.browser.conftest import VIEWPORT, wait_subscribed
from tests.support.demo import DemoProcess


def test_the_guides_curl_command_shows_up_on_the_page(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page("/")  # returned once #global-subscription says "subscribed"
    curl = page.locator("#curl").inner_text()
    assert curl.startswith("curl -X POST http://127.0.0.1:")

    result = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)

    assert result.stdout == '{"success": true}'
    expect(page.locator("#notifications li")).to_have_count(1)
    expect(page.locator("#notifications li")).to_contain_text("Test message")
    screenshot(page, "home-curl-notification")


# Every (connection, subscription) pair the global listener shows, in order.
RECORD_STATES = """
window.shownStates = [];
new MutationObserver(() => {
  const shown = ["global-state", "global-subscription"].map(
    (id) => document.getElementById(id)?.textContent,
  );
  const last = window.shownStates.at(-1);
  if (shown[0] && shown.join() !== last?.join()) window.shownStates.push(shown);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_connected_is_shown_apart_from_and_before_subscribed(
    browser: Browser, demo: DemoProcess
) -> None:
    context = browser.new_context(viewport=VIEWPORT, base_url=demo.url)  # type: ignore[arg-type]
    context.add_init_script(RECORD_STATES)
    page = context.new_page()
    page.goto("/")

    wait_subscribed(page, "global-subscription")

    shown = page.evaluate("window.shownStates")
    # The socket is up a round trip before tidings confirms the subscription: the page says
    # so, rather than letting "connected" stand for "subscribed".
    assert shown[-2:] == [["connected", "subscribing"], ["connected", "subscribed"]], shown
    expect(page.locator("#global-subscription")).to_have_attribute("data-state", "subscribed")
    context.close()


def test_the_listener_runs_on_every_page(new_page: Callable[..., Page], demo: DemoProcess) -> None:
    # Each returned once its #global-subscription says "subscribed".
    pages = [new_page(path) for path in ("/sessions", "/messages", "/presence")]

    demo_notify = ["curl", "-s", "-X", "POST", demo.url + "/api/internal/notify"]
    body = '{"channel":"my-channel","event":"my-event","data":{"message":"to everyone"}}'
    subprocess.run([*demo_notify, "-H", "Content-Type: application/json", "-d", body], check=True)

    for page in pages:
        expect(page.locator("#notifications li")).to_contain_text(["to everyone"])


def test_the_logging_switch_mirrors_pusher_log_to_console(new_page: Callable[..., Page]) -> None:
    page = new_page("/")
    switch = page.locator("#log-switch")
    expect(switch).to_be_checked()
    assert page.evaluate("window.Pusher.logToConsole") is True

    switch.uncheck()
    assert page.evaluate("window.Pusher.logToConsole") is False
    page.reload()

    expect(page.locator("#log-switch")).not_to_be_checked()
    assert page.evaluate("window.Pusher.logToConsole") is False


def test_no_page_or_script_contains_the_secret(
    new_page: Callable[..., Page], demo: DemoProcess
) -> None:
    bodies: dict[str, bytes] = {}

    def keep(response: Response) -> None:
        kind = response.request.resource_type
        if kind in ("document", "script", "stylesheet", "fetch", "xhr") and response.status < 300:
            bodies[response.url] = response.body()

    page = new_page("/", login_as="Mallory", on_response=keep)
    for path in ("/", "/sessions", "/messages", "/login", "/presence"):
        page.goto(path)
        wait_subscribed(page, "global-subscription")  # its scripts have run
    # Joining on the presence page: the auth endpoints' answers are checked too.
    with (
        page.expect_response("**/pusher/user-auth") as user_auth,
        page.expect_response("**/pusher/auth") as channel_auth,
    ):
        page.click("#join-button")
    for response in (user_auth.value, channel_auth.value):
        assert response.ok
        keep(response)
    expect(page.locator("#signin-status")).to_contain_text("Signed in to tidings as Mallory")

    served = {url.removeprefix(demo.url) for url in bodies}
    assert {"/vendor/pusher.min.js", "/static/js/config.js", "/static/js/ui.js"} <= served
    assert {"/static/js/global-listener.js", "/static/js/presence.js"} <= served
    assert {"/pusher/auth", "/pusher/user-auth"} <= served
    for url, body in bodies.items():
        assert demo.app.secret.encode() not in body, url
    assert demo.app.secret not in page.evaluate("JSON.stringify(window.localStorage)")
