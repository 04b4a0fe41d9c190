"""The session page with tidings' recovery add-on in Chromium: a reload or a dropped connection
in the middle of an agent run, and the whole conversation is there, in order, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import VIEWPORT, wait_subscribed
from tests.browser.test_session_page import start_listening
from tests.support.cut_proxy import CutProxy
from tests.support.demo import DemoProcess
from tests.support.pusher_js import unique, wait_until
from tests.support.server import free_port

TYPES = ["message", "progress", "chunk", "chunk", "chunk", "done"]


def conversation(page: Page) -> list[str]:
    rows = page.locator("#agent-messages li")
    expect(rows).to_have_count(len(TYPES))
    return rows.evaluate_all("rows => rows.map(r => r.dataset.type)")  # type: ignore[no-any-return]


def run_finished(demo: DemoProcess, session_id: str) -> bool:
    response = requests.get(f"{demo.url}/api/agent/sessions/{session_id}", timeout=5)
    return response.ok and response.json()["state"] == "done"


def test_a_reload_in_the_middle_of_a_run_shows_the_whole_conversation_once(
    new_page: Callable[..., Page], demo: DemoProcess
) -> None:
    page = new_page("/sessions")
    session_id = unique("reload")
    start_listening(page, session_id)
    page.fill("#run-message", "Survive a reload")
    page.click("#run-button")
    expect(page.locator("#agent-messages li").first).to_be_visible()

    page.reload()

    expect(page.locator("#session-id")).to_have_value(session_id)
    wait_subscribed(page, "session-subscription")
    assert conversation(page) == TYPES
    expect(page.locator("#agent-messages li").first).to_contain_text("Survive a reload")
    wait_until(lambda: run_finished(demo, session_id), "the run is done")
    assert conversation(page) == TYPES  # nothing came twice once the run ended


@pytest.fixture
def proxied_demo() -> Iterator[tuple[DemoProcess, CutProxy]]:
    """The demo with the browsers' WebSocket (and add-on) going through a cuttable proxy; its
    backend reaches tidings directly, so a run goes on while the browser is cut off."""
    tidings_port = free_port()
    with CutProxy(tidings_port) as proxy:
        env = {"TIDINGS_WS_PORT": str(proxy.port)}
        with DemoProcess(server_port=tidings_port, env=env) as demo:
            yield demo, proxy


def test_events_sent_while_the_connection_was_cut_arrive_when_it_is_back(
    browser: Browser, proxied_demo: tuple[DemoProcess, CutProxy]
) -> None:
    demo, proxy = proxied_demo
    context = browser.new_context(viewport=VIEWPORT, base_url=demo.url)  # type: ignore[arg-type]
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/sessions")
        session_id = unique("cut")
        start_listening(page, session_id)

        proxy.cut()
        expect(page.locator("#session-state")).not_to_have_text("connected")
        started = requests.post(
            f"{demo.url}/api/agent/sessions",
            json={"sessionId": session_id, "message": "While you were away"},
            timeout=5,
        )
        assert started.status_code == 202
        wait_until(lambda: run_finished(demo, session_id), "the run is done")
        expect(page.locator("#agent-messages li")).to_have_count(0)

        proxy.restore()

        assert conversation(page) == TYPES
        expect(page.locator("#agent-messages li").first).to_contain_text("While you were away")
    finally:
        context.close()
    assert errors == []


def test_tidings_serves_the_add_on_as_an_es_module_too(
    new_page: Callable[..., Page], demo: DemoProcess
) -> None:
    page = new_page("/sessions")
    origin = f"http://{demo.tidings.host}:{demo.tidings.port}"
    kinds = page.evaluate(
        """async (origin) => {
            const module = await import(`${origin}/js/tidings-recovery.mjs`);
            return [typeof module.attach, module.default.attach === module.attach];
        }""",
        origin,
    )
    assert kinds == ["function", True]
