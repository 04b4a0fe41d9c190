"""Presence page: who is online, live; a private chat of client events; no login, no entry."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_subscribed


def join(page: Page, room: str) -> None:
    """Join and wait until both channels are subscribed: members and chat lines come after."""
    page.fill("#room", room)
    page.click("#join-button")
    expect(page.locator("#presence-channel")).to_have_text(f"presence-{room}")
    expect(page.locator("#chat-channel")).to_have_text(f"private-chat-{room}")
    wait_subscribed(page, "presence-subscription", "chat-subscription")


def members(page: Page) -> list[str]:
    return page.locator("#members li").all_inner_texts()


def test_two_people_see_each_other_join_and_leave(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    alice = new_page("/presence", login_as="Alice")
    bob = new_page("/presence", login_as="Bob")
    join(alice, "garden")
    expect(alice.locator("#members li")).to_have_text(["Alice (you)"])

    join(bob, "garden")

    expect(alice.locator("#member-count")).to_have_text("2")
    expect(alice.locator("#members li")).to_have_text(["Alice (you)", "Bob"])
    expect(bob.locator("#members li")).to_have_text(["Alice", "Bob (you)"])
    expect(alice.locator("#presence-log li").first).to_contain_text("Bob joined")
    expect(bob.locator("#signin-status")).to_have_text(re.compile(r"Signed in to tidings as Bob"))
    screenshot(alice, "presence-two-members")

    bob.click("#leave-button")

    expect(alice.locator("#members li")).to_have_text(["Alice (you)"])
    expect(alice.locator("#presence-log li").first).to_contain_text("Bob left")
    expect(bob.locator("#presence-state")).to_have_text("not joined")
    expect(bob.locator("#presence-subscription")).to_have_text("not subscribed")
    expect(bob.locator("#chat-subscription")).to_have_text("not subscribed")


def test_leaving_the_page_counts_as_leaving_the_room(new_page: Callable[..., Page]) -> None:
    alice = new_page("/presence", login_as="Alice")
    carol = new_page("/presence", login_as="Carol")
    join(alice, "hall")
    join(carol, "hall")
    expect(alice.locator("#member-count")).to_have_text("2")

    carol.goto("/")  # pagehide runs the cleanup: unbind_all, unsubscribe, disconnect

    expect(alice.locator("#members li")).to_have_text(["Alice (you)"])


def test_a_private_chat_message_goes_from_one_browser_to_the_other(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    alice = new_page("/presence", login_as="Alice")
    bob = new_page("/presence", login_as="Bob")
    join(alice, "kitchen")
    join(bob, "kitchen")
    expect(alice.locator("#chat-button")).to_be_enabled()
    expect(bob.locator("#chat-button")).to_be_enabled()

    alice.fill("#chat-text", "Psst, Bob: client events!")
    alice.click("#chat-button")

    expect(bob.locator("#chat li")).to_have_count(1)
    expect(bob.locator("#chat li")).to_contain_text("AlicePsst, Bob: client events!")
    expect(alice.locator("#chat li.mine")).to_contain_text("Psst, Bob: client events!")
    screenshot(bob, "presence-private-chat")


def test_without_logging_in_the_subscription_fails_visibly(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page("/presence")
    expect(page.locator("#signin-status")).to_contain_text("You are not logged in")

    page.click("#join-button")

    expect(page.locator("#presence-error")).to_be_visible()
    expect(page.locator("#presence-error")).to_contain_text(
        "Subscription to presence-lobby failed: 403 (log in first: /login)"
    )
    expect(page.locator("#presence-error")).to_contain_text(
        "Subscription to private-chat-lobby failed: 403 (log in first: /login)"
    )
    expect(page.locator("#signin-status")).to_have_text("Not signed in to tidings (403).")
    for state in ("#presence-subscription", "#chat-subscription"):
        expect(page.locator(state)).to_have_text("refused (403 AuthError)")
        expect(page.locator(state)).to_have_attribute("data-state", "refused")
    expect(page.locator("#presence-state")).to_have_text("connected")  # the socket is fine
    expect(page.locator("#members li")).to_have_count(0)
    expect(page.locator("#chat-button")).to_be_disabled()
    screenshot(page, "presence-refused")
