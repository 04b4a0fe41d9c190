"""The agent workflow: a run streams ``agent-message`` events on ``agent-{sessionId}``."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from tests.support.pusher_js import PusherJsDriver

EXPECTED = [
    ("message", "user", "What is tidings?"),
    ("progress", "assistant", "Thinking\u2026"),
    ("chunk", "assistant", "You said: \u201cWhat is tidings?\u201d."),
    ("chunk", "assistant", "That is 3 words and 16 characters."),
    ("chunk", "assistant", "Each part of this reply reached you as its own agent-message event."),
    ("done", "assistant", "Done"),
]


def wait_for_state(
    api: Callable[..., requests.Response], session_id: str, timeout: float = 15
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, object] = api("GET", f"/api/agent/sessions/{session_id}").json()
        if status["state"] != "running":
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {session_id} still running after {timeout}s")


def test_a_run_streams_every_message_in_order_then_reports_done(
    api: Callable[..., requests.Response], listener: PusherJsDriver
) -> None:
    page = listener.client("session-page")
    page.subscribe("agent-s1")

    response = api(
        "POST", "/api/agent/sessions", json={"sessionId": "s1", "message": "What is tidings?"}
    )

    assert response.status_code == 202
    assert response.json()["channel"] == "agent-s1"
    page.wait_for("agent-s1", "agent-message", where=lambda e: e.data["type"] == "done", timeout=15)
    received = [e.data for e in page.events("agent-s1", "agent-message")]
    assert [(m["type"], m["role"], m["message"]) for m in received] == EXPECTED
    assert {m["sessionId"] for m in received} == {"s1"}
    status = wait_for_state(api, "s1")
    assert (status["state"], status["sent"], status["retries"], status["error"]) == (
        "done",
        6,
        0,
        None,
    )


def test_a_second_run_for_a_busy_session_is_refused(api: Callable[..., requests.Response]) -> None:
    first = api("POST", "/api/agent/sessions", json={"sessionId": "busy", "message": "one"})
    second = api("POST", "/api/agent/sessions", json={"sessionId": "busy", "message": "two"})

    assert first.status_code == 202
    assert second.status_code == 409
    assert "already in progress" in second.json()["error"]
    wait_for_state(api, "busy")
    assert (
        api(
            "POST", "/api/agent/sessions", json={"sessionId": "busy", "message": "three"}
        ).status_code
        == 202
    )


def test_an_unknown_session_has_no_status(api: Callable[..., requests.Response]) -> None:
    response = api("GET", "/api/agent/sessions/never-started")

    assert response.status_code == 404
    assert response.json() == {"error": "No run for session never-started"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"message": "hi"}, "Missing required fields: sessionId, message"),
        ({"sessionId": "s2"}, "Missing required fields: sessionId, message"),
        ({"sessionId": "s 2", "message": "hi"}, "sessionId gives a bad channel name"),
        ({"sessionId": 7, "message": "hi"}, "must be strings"),
        ({"sessionId": "s2", "message": "x" * 2001}, "longer than 2000 characters"),
    ],
    ids=["no-session", "no-message", "bad-session-id", "number", "too-long"],
)
def test_a_bad_request_starts_nothing(
    api: Callable[..., requests.Response], body: dict[str, object], error: str
) -> None:
    response = api("POST", "/api/agent/sessions", json=body)

    assert response.status_code == 400
    assert error in response.json()["error"]
    assert api("GET", "/api/agent/sessions/s2").status_code == 404
