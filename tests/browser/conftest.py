"""Debian's Chromium driven by Playwright against a real ``tidings demo`` process.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Screenshots go to
a temporary directory, or to docs/screenshots when TIDINGS_UPDATE_SCREENSHOTS=1 (so a normal
test run does not rewrite the committed images).

A page receives a channel's events only once its subscription has succeeded, which comes after
the connection is up: tests that need an event wait for that subscription's own state element
to say "subscribed" (``wait_subscribed``), never for "connected" and never for a fixed delay.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Response,
    expect,
    sync_playwright,
)

from tests.support.demo import DemoProcess
from tests.support.server import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1000, "height": 540}
SCREENSHOTS = ROOT / "docs" / "screenshots"

expect.set_options(timeout=10_000)


def wait_subscribed(page: Page, *state_ids: str) -> None:
    """Wait until each subscription state element (by id) says its subscription succeeded."""
    for state_id in state_ids:
        expect(page.locator(f"#{state_id}")).to_have_text("subscribed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or scripts/setup --system)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoProcess]:
    with DemoProcess() as process:
        yield process


@pytest.fixture
def new_page(browser: Browser, demo: DemoProcess) -> Iterator[Callable[..., Page]]:
    """A page in a fresh browser context (its own cookies): one per simulated person.

    It is returned once its global listener is subscribed to my-channel, so a my-event sent
    from then on reaches it. Uncaught script errors on any of them fail the test at teardown.
    """
    contexts: list[BrowserContext] = []
    script_errors: list[str] = []

    def open_page(
        path: str = "/",
        *,
        login_as: str | None = None,
        on_response: Callable[[Response], None] | None = None,
    ) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=demo.url)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: script_errors.append(f"{page.url}: {error}"))
        if on_response is not None:
            page.on("response", on_response)
        if login_as is not None:
            page.goto(f"/login?next={path}")
            page.fill("#name", login_as)
            page.click("#login-form button")
            page.wait_for_url(f"**{path}")
        else:
            page.goto(path)
        wait_subscribed(page, "global-subscription")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert script_errors == []


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("TIDINGS_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Callable[[Page, str], Path]:
    def take(page: Page, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 0
        return path

    return take
