"""The per-user message page: ``new-message`` on ``user-{userId}``, sent via /api/send-message."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_subscribed
from tests.support.demo import DemoProcess


def test_a_sent_message_appears_on_the_users_page(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page("/messages?userId=dana")
    expect(page.locator("#user-channel")).to_have_text("user-dana")
    wait_subscribed(page, "user-subscription")
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
    # "connected" is not enough: a message sent before tidings has the subscription is lost.
    wait_subscribed(dana, "user-subscription")
    wait_subscribed(erin, "user-subscription")

    for user, text in (("erin", "just for Erin"), ("dana", "just for Dana")):
        body = {"userId": user, "message": text}
        assert requests.post(demo.url + "/api/send-message", json=body, timeout=15).ok

    expect(dana.locator("#user-messages li")).to_have_text([re.compile("just for Dana")])
    expect(erin.locator("#user-messages li")).to_have_text([re.compile("just for Erin")])


def test_changing_the_user_id_subscribes_anew(
    new_page: Callable[..., Page], demo: DemoProcess
) -> None:
    page = new_page("/messages?userId=dana")
    wait_subscribed(page, "user-subscription")

    page.fill("#user-id", "frank")
    page.click("#user-form button")

    expect(page.locator("#user-channel")).to_have_text("user-frank")
    wait_subscribed(page, "user-subscription")
    body = {"userId": "frank", "message": "now for Frank"}
    assert requests.post(demo.url + "/api/send-message", json=body, timeout=15).ok
    expect(page.locator("#user-messages li")).to_have_text([re.compile("now for Frank")])


def test_a_refused_send_is_shown_on_the_page(new_page: Callable[..., Page]) -> None:
    page = new_page("/messages")
    page.fill("#user-id", "not valid")
    page.evaluate("document.getElementById('user-id').removeAttribute('pattern')")
    page.click("#user-form button")
    # tidings refuses the subscription itself (a space is not allowed in a channel name).
    expect(page.locator("#user-subscription")).to_have_text(re.compile(r"^refused \("))
    expect(page.locator("#user-subscription")).to_have_attribute("data-state", "refused")
    expect(page.locator("#user-state")).to_have_text("connected")
    page.fill("#send-text", "hello?")

    page.click("#send-button")

    expect(page.locator("#user-error")).to_contain_text(
        "Could not send: Invalid message: userId gives a bad channel name"
    )
