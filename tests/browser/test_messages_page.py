"""The per-user message page: ``new-message`` on ``user-{userId}``, sent via /api/send-message."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.support.demo import DemoProcess


def test_a_sent_message_appears_on_the_users_page(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page("/messages?userId=dana")
    expect(page.locator("#user-state")).to_have_text("connected")

    page.fill("#send-text", "Hello Dana, from the form")
    page.click("#send-button")

    expect(page.locator("#user-messages li")).to_have_count(1)
    expect(page.locator("#user-messages li")).to_contain_text("Hello Dana, from the form")
    expect(page.locator("#send-text")).to_have_value("")
    screenshot(page, "messages-user-page")


def test_a_backend_message_reaches_only_that_users_page(
    new_page: Callable[..., Page], demo: DemoProcess
) -> None:
    dana = new_page("/messages?userId=dana")
    erin = new_page("/messages?userId=erin")
    expect(dana.locator("#user-state")).to_have_text("connected")
    expect(erin.locator("#user-state")).to_have_text("connected")

    for user, text in (("erin", "just for Erin"), ("dana", "just for Dana")):
        body = {"userId": user, "message": text}
        assert requests.post(demo.url + "/api/send-message", json=body, timeout=15).ok

    expect(dana.locator("#user-messages li")).to_have_text([re.compile("just for Dana")])
    expect(erin.locator("#user-messages li")).to_have_text([re.compile("just for Erin")])


def test_a_refused_send_is_shown_on_the_page(new_page: Callable[..., Page]) -> None:
    page = new_page("/messages")
    page.fill("#user-id", "not valid")
    page.evaluate("document.getElementById('user-id').removeAttribute('pattern')")
    page.click("#user-form button")
    page.fill("#send-text", "hello?")

    page.click("#send-button")

    expect(page.locator("#user-error")).to_contain_text(
        "Could not send: Invalid message: userId gives a bad channel name"
    )
