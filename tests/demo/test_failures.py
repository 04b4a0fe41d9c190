"""When tidings is down or refuses the demo's credentials: a prompt 500, never a hang."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.demo import DemoProcess
from tests.support.server import AppSpec, TidingsServer

NOTE = {"channel": "my-channel", "event": "my-event", "data": {"message": "anyone?"}}


@pytest.fixture
def tidings() -> Iterator[TidingsServer]:
    with TidingsServer([AppSpec()]) as server:
        yield server


def demo_using(server: TidingsServer, app: AppSpec | None = None) -> DemoProcess:
    return DemoProcess(app or server.app, server_port=server.port, external_server=True)


def test_with_tidings_stopped_notify_and_send_message_fail_with_the_reason(
    tidings: TidingsServer,
) -> None:
    with demo_using(tidings) as demo:
        assert requests.post(demo.url + "/api/internal/notify", json=NOTE, timeout=15).ok
        tidings.stop()

        notify = requests.post(demo.url + "/api/internal/notify", json=NOTE, timeout=15)
        message = requests.post(
            demo.url + "/api/send-message", json={"userId": "7", "message": "hi"}, timeout=15
        )

    for response in (notify, message):
        assert response.status_code == 500
        assert response.json()["error"] == "Failed to send notification"
        assert f"tidings at 127.0.0.1:{tidings.port} is unreachable" in response.json()["details"]


def test_a_wrong_secret_is_reported_as_tidings_rejecting_the_event(tidings: TidingsServer) -> None:
    wrong = AppSpec(secret="not-the-secret")
    with demo_using(tidings, wrong) as demo:
        response = requests.post(demo.url + "/api/internal/notify", json=NOTE, timeout=15)

    assert response.status_code == 500
    assert response.json()["error"] == "Failed to send notification"
    assert response.json()["details"].startswith("tidings rejected the event: HTTP 401: ")
    assert "Invalid signature" in response.json()["details"]


def test_an_agent_run_that_cannot_send_retries_then_reports_failure(
    tidings: TidingsServer,
) -> None:
    with demo_using(tidings) as demo:
        tidings.stop()
        started = requests.post(
            demo.url + "/api/agent/sessions",
            json={"sessionId": "offline", "message": "hello?"},
            timeout=15,
        )
        assert started.status_code == 202
        deadline = time.monotonic() + 20
        status = started.json()
        while status["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = requests.get(demo.url + "/api/agent/sessions/offline", timeout=15).json()
        log = demo.log()

    assert status["state"] == "failed"
    assert (status["sent"], status["retries"]) == (0, 3)
    assert status["error"].startswith("message step failed after 4 attempts: tidings at")
    assert "agent run offline failed" in log
