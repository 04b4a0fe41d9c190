"""Every documented HTTP API failure is a real status with ``{"error": "...", "code": N}``.

A backend developer who sends something wrong gets told what, with the status the SDKs map to an
exception (soketi answers 200 for all of these). Requests are signed here by hand, following
PROTOCOL.md section 5.4, so each part of the signature can be broken on purpose.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support.server import AppSpec, TidingsServer
from tidings.protocol.signatures import api_string_to_sign, sign

LIMITED = AppSpec(
    id="5001",
    key="limited-key",
    secret="limited-secret",
    settings={"max_backend_events_per_sec": 2, "max_read_req_per_sec": 1},
)
DISABLED = AppSpec(
    id="5002", key="disabled-key", secret="disabled-secret", settings={"enabled": False}
)


@pytest.fixture(scope="module")
def server() -> Iterator[TidingsServer]:
    with TidingsServer([AppSpec(), LIMITED, DISABLED]) as running:
        yield running


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: Any


def api(
    server: TidingsServer,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    *,
    app: AppSpec | None = None,
    key: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    version: str = "1.0",
    body_md5: str | None = None,
    omit: tuple[str, ...] = (),
) -> Answer:
    """Send a request signed like the SDKs do; keyword arguments spoil one part of it."""
    app = app or server.app
    raw = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    query = {
        **(params or {}),
        "auth_key": key or app.key,
        "auth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "auth_version": version,
    }
    if raw or body_md5 is not None:
        query["body_md5"] = body_md5 or hashlib.md5(raw).hexdigest()
    query["auth_signature"] = sign(
        secret or app.secret, api_string_to_sign(method, path, query.items())
    )
    for name in omit:
        query.pop(name, None)
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if raw else {}
        connection.request(method, f"{path}?{urlencode(query)}", body=raw or None, headers=headers)
        response = connection.getresponse()
        text = response.read()
        return Answer(response.status, response.headers, json.loads(text) if text else None)
    finally:
        connection.close()


def assert_error(answer: Answer, status: int, mentions: str) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.body["code"] == status
    assert mentions.lower() in answer.body["error"].lower(), answer.body["error"]


EVENTS = "/apps/4242/events"
EVENT = {"name": "e", "channels": ["news"], "data": "{}"}

BAD_EVENTS = {
    "bad JSON": (b'{"name": "e", ', "not valid JSON"),
    "not an object": (b"[1, 2]", "JSON object"),
    "missing name": ({"channels": ["news"], "data": "1"}, "'name'"),
    "missing data": ({"name": "e", "channels": ["news"]}, "'data'"),
    "missing channels": ({"name": "e", "data": "1"}, "'channels'"),
    "101 channels": ({**EVENT, "channels": [f"c{i}" for i in range(101)]}, "at most 100"),
    "long event name": ({**EVENT, "name": "e" * 201}, "longer than 200"),
    "bad channel name": ({**EVENT, "channels": ["no spaces"]}, "characters outside"),
    "long channel name": ({**EVENT, "channels": ["c" * 201]}, "the limit is 200"),
    "bad socket_id": ({**EVENT, "socket_id": "not-a-socket"}, "socket_id"),
    "unknown info": ({**EVENT, "info": "occupied"}, "info attribute"),
    "encrypted with others": (
        {**EVENT, "channels": ["private-encrypted-x", "news"]},
        "encrypted channel must go to that channel alone",
    ),
}


@pytest.mark.parametrize("case", BAD_EVENTS, ids=list(BAD_EVENTS))
def test_bad_trigger_is_400_naming_the_problem(server: TidingsServer, case: str) -> None:
    body, mentions = BAD_EVENTS[case]
    assert_error(api(server, "POST", EVENTS, body), 400, mentions)


def test_bad_batches_are_400(server: TidingsServer) -> None:
    path = "/apps/4242/batch_events"
    item = {"channel": "news", "name": "e", "data": "1"}
    assert_error(api(server, "POST", path, {"batch": [item] * 11}), 400, "at most 10")
    assert_error(api(server, "POST", path, {"batch": []}), 400, "'batch'")
    bad = {"batch": [item, {**item, "channel": "bad name"}]}
    assert_error(api(server, "POST", path, bad), 400, "batch[1]")


BAD_QUERIES = {
    "user_count without presence prefix": (
        "/apps/4242/channels",
        {"info": "user_count"},
        "presence-",
    ),
    "unknown channels info": ("/apps/4242/channels", {"info": "members"}, "members"),
    "user_count on public channel": (
        "/apps/4242/channels/news",
        {"info": "user_count"},
        "presence channels",
    ),
    "cache on non-cache channel": ("/apps/4242/channels/news", {"info": "cache"}, "cache"),
    "users of non-presence channel": ("/apps/4242/channels/news/users", {}, "not a presence"),
    "bad channel name": ("/apps/4242/channels/bad%20name", {}, "characters outside"),
}


@pytest.mark.parametrize("case", BAD_QUERIES, ids=list(BAD_QUERIES))
def test_bad_query_is_400(server: TidingsServer, case: str) -> None:
    path, params, mentions = BAD_QUERIES[case]
    assert_error(api(server, "GET", path, params=params), 400, mentions)


def test_oversized_data_is_413(server: TidingsServer) -> None:
    too_big = {**EVENT, "data": "x" * (10 * 1024 + 1)}
    assert_error(api(server, "POST", EVENTS, too_big), 413, "exceeds the allowed maximum")
    just_fits = {**EVENT, "data": "x" * (10 * 1024)}
    assert api(server, "POST", EVENTS, just_fits).status == 200


def test_every_broken_signature_part_is_401(server: TidingsServer) -> None:
    now = int(time.time())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"omit": ("auth_signature",)}, "auth_signature"),
        ({"omit": ("auth_timestamp", "auth_key")}, "auth_key, auth_timestamp"),
        ({"key": "someone-else"}, "auth_key"),
        ({"version": "2.0"}, "auth_version"),
        ({"timestamp": now - 700}, "Timestamp expired"),
        ({"timestamp": now + 700}, "Timestamp expired"),
        ({"body_md5": "0" * 32}, "body_md5 mismatch"),
        ({"secret": "wrong-secret"}, "Invalid signature"),
    ]
    for spoil, mentions in cases:
        assert_error(api(server, "POST", EVENTS, EVENT, **spoil), 401, mentions)
    # A body without body_md5 cannot be trusted either.
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    query = urlencode(
        {"auth_key": "test-key", "auth_timestamp": now, "auth_version": "1.0"}
        | {"auth_signature": "0" * 64}
    )
    connection.request("POST", f"{EVENTS}?{query}", body=json.dumps(EVENT))
    response = connection.getresponse()
    assert response.status == 401
    assert "body_md5" in json.loads(response.read())["error"]
    connection.close()


def test_timestamp_within_ten_minutes_is_accepted(server: TidingsServer) -> None:
    for skew in (-590, 590):
        assert api(server, "POST", EVENTS, EVENT, timestamp=int(time.time()) + skew).status == 200


def test_unknown_auth_key_on_the_app_less_terminate_path_is_401(server: TidingsServer) -> None:
    path = "/users/u1/terminate_connections"
    assert_error(api(server, "POST", path, {}, key="nobody"), 401, "auth_key")
    assert api(server, "POST", path, {}).status == 200


def test_unknown_app_and_unknown_route_are_404(server: TidingsServer) -> None:
    assert_error(api(server, "POST", "/apps/9999/events", EVENT), 404, "9999")
    assert_error(api(server, "GET", "/apps/4242/everything"), 404, "/apps/4242/everything")
    assert_error(api(server, "GET", "/nowhere"), 404, "not found")


def test_disabled_app_is_403(server: TidingsServer) -> None:
    assert_error(api(server, "POST", "/apps/5002/events", EVENT, app=DISABLED), 403, "disabled")
    answer = api(server, "GET", "/apps/5002/channels", app=DISABLED)
    assert_error(answer, 403, "disabled")


def test_backend_event_rate_limit_is_429_with_headers(server: TidingsServer) -> None:
    path = "/apps/5001/events"
    # Three channels are three events against a limit of two per second, in any window.
    three = {**EVENT, "channels": ["a", "b", "c"]}
    answer = api(server, "POST", path, three, app=LIMITED)
    assert_error(answer, 429, "Too many requests")
    assert answer.headers["X-RateLimit-Limit"] == "2"
    assert int(answer.headers["X-RateLimit-Remaining"]) <= 2
    assert int(answer.headers["Retry-After"]) >= 1

    batch = {"batch": [{"channel": c, "name": "e", "data": "1"} for c in "abc"]}
    assert_error(api(server, "POST", "/apps/5001/batch_events", batch, app=LIMITED), 429, "")
    # The other app shares nothing with it.
    assert api(server, "POST", EVENTS, three).status == 200


def test_read_rate_limit_is_429_with_headers(server: TidingsServer) -> None:
    # Five reads against one per second: whatever the windows, at most two get through.
    answers = [api(server, "GET", "/apps/5001/channels", app=LIMITED) for _ in range(5)]
    limited = [a for a in answers if a.status == 429]
    assert len(limited) >= 3, [a.status for a in answers]
    assert all(a.status == 200 for a in answers if a not in limited)
    assert limited[0].body["code"] == 429
    assert limited[0].headers["X-RateLimit-Limit"] == "1"
    assert "Retry-After" in limited[0].headers


def test_the_server_still_answers_good_requests(server: TidingsServer) -> None:
    answer = api(server, "POST", EVENTS, EVENT)
    assert (answer.status, answer.body) == (200, {})
    answer = api(server, "GET", "/apps/4242/channels")
    assert (answer.status, answer.body) == (200, {"channels": {}})
