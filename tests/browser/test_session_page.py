"""The session listener page: an agent run streams into it, in order; leaving cleans up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import VIEWPORT, wait_subscribed
from tests.support.demo import DemoProcess
from tests.support.pusher_js import wait_until
from tests.support.raw_client import sdk_for
from tests.support.server import AppSpec, TidingsServer


def start_listening(page: Page, session_id: str) -> None:
    """Listen and wait for the subscription: a run's first events would be lost before it."""
    page.fill("#session-id", session_id)
    page.click("#listen-button")
    expect(page.locator("#session-channel")).to_have_text(f"agent-{session_id}")
    wait_subscribed(page, "session-subscription")
    expect(page.locator("#run-button")).to_be_enabled()


def occupied_channels(demo: DemoProcess) -> set[str]:
    return set(sdk_for(demo.tidings).channels_info()["channels"])  # type: ignore[arg-type]


def test_an_agent_run_streams_all_its_messages_in_order(
    new_page: Callable[..., Page], demo: DemoProcess, screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page("/sessions")
    start_listening(page, "browser-run")

    page.fill("#run-message", "Stream me a reply")
    page.click("#run-button")

    rows = page.locator("#agent-messages li")
    expect(rows).to_have_count(6)
    types = rows.evaluate_all("rows => rows.map(r => r.dataset.type)")
    roles = rows.evaluate_all("rows => rows.map(r => r.dataset.role)")
    assert types == ["message", "progress", "chunk", "chunk", "chunk", "done"]
    assert roles == ["user"] + ["assistant"] * 5
    expect(rows.nth(0)).to_contain_text("Stream me a reply")
    expect(rows.nth(2)).to_contain_text("You said: \u201cStream me a reply\u201d.")
    expect(page.locator("#run-status")).to_have_text("Run done: 6 event(s) sent.")
    screenshot(page, "sessions-agent-run")


def test_stopping_unsubscribes_and_disconnects(
    new_page: Callable[..., Page], demo: DemoProcess
) -> None:
    page = new_page("/sessions")
    start_listening(page, "leaving-soon")
    assert "agent-leaving-soon" in occupied_channels(demo)

    page.click("#listen-button")

    expect(page.locator("#session-state")).to_have_text("not listening")
    expect(page.locator("#session-subscription")).to_have_text("not subscribed")
    expect(page.locator("#run-button")).to_be_disabled()
    wait_until(
        lambda: "agent-leaving-soon" not in occupied_channels(demo),
        "tidings sees agent-leaving-soon vacated",
    )
    assert "my-channel" in occupied_channels(demo)  # the global listener is still there


@pytest.fixture
def tidings() -> Iterator[TidingsServer]:
    with TidingsServer([AppSpec(settings={"enable_client_events": True})]) as server:
        yield server


def test_when_tidings_goes_away_the_page_says_so(
    browser: Browser, tidings: TidingsServer, screenshot: Callable[[Page, str], Path]
) -> None:
    with DemoProcess(tidings.app, server_port=tidings.port, external_server=True) as demo:
        context = browser.new_context(viewport=VIEWPORT, base_url=demo.url)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto("/sessions")
        wait_subscribed(page, "global-subscription")
        start_listening(page, "doomed")

        tidings.stop()
        page.fill("#run-message", "Are you there?")
        page.click("#run-button")

        expect(page.locator("#session-state")).not_to_have_text("connected")
        # No connection, no subscription: both wait for pusher-js to resubscribe.
        expect(page.locator("#session-subscription")).to_have_text("subscribing")
        expect(page.locator("#global-subscription")).to_have_text("subscribing")
        expect(page.locator("#session-error")).to_contain_text(
            "Agent run failed: message step failed after 4 attempts: tidings at"
        )
        expect(page.locator("#run-status")).to_have_text("Run failed: 0 event(s) sent, 3 retried.")
        screenshot(page, "sessions-tidings-down")
        context.close()


def test_when_tidings_comes_back_the_page_subscribes_again(
    browser: Browser, tidings: TidingsServer
) -> None:
    with DemoProcess(tidings.app, server_port=tidings.port, external_server=True) as demo:
        context = browser.new_context(viewport=VIEWPORT, base_url=demo.url)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto("/sessions")
        wait_subscribed(page, "global-subscription")
        start_listening(page, "phoenix")

        tidings.stop()
        expect(page.locator("#session-state")).not_to_have_text("connected")
        expect(page.locator("#session-subscription")).to_have_text("subscribing")
        tidings.start()  # on the same port
        # pusher-js's next attempt would come after its 15 s connection timeout; a browser
        # going back online makes it retry at once.
        context.set_offline(True)
        context.set_offline(False)

        wait_subscribed(page, "session-subscription", "global-subscription")
        expect(page.locator("#session-state")).to_have_text("connected")
        page.fill("#run-message", "Still there?")
        page.click("#run-button")
        expect(page.locator("#agent-messages li")).to_have_count(6)
        expect(page.locator("#agent-messages li").first).to_contain_text("Still there?")
        context.close()
