"""The global listener on every page, the guide's curl test, and what the browser is sent."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, Response, expect

from tests.support.demo import DemoProcess


def test_the_guides_curl_command_shows_up_on_the_page(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page("/")
    curl = page.locator("#curl").inner_text()
    assert curl.startswith("curl -X POST http://127.0.0.1:")

    result = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)

    assert result.stdout == '{"success": true}'
    expect(page.locator("#notifications li")).to_have_count(1)
    expect(page.locator("#notifications li")).to_contain_text("Test message")
    screenshot(page, "home-curl-notification")


def test_the_listener_runs_on_every_page(new_page: Callable[..., Page], demo: DemoProcess) -> None:
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
        expect(page.locator("#global-state")).to_have_text("connected")
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
