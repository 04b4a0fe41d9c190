"""A receiver hears about every kind of activity, in the documented bodies, signed so that both
official SDKs' webhook validators accept each request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import AppSpec, TidingsServer
from tests.webhooks.receiver import (
    Receiver,
    node_sdk_accepts,
    python_sdk_accepts,
    webhook_settings,
)

StartTidings = Callable[..., Awaitable[TidingsServer]]


def same_events(received: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """The same events, in any order: the order inside one hub operation is not specified."""
    return sorted(map(json.dumps, received)) == sorted(map(json.dumps, expected))


async def test_every_event_type_arrives_signed_with_its_documented_body(
    receiver: Receiver, start_tidings: StartTidings, tmp_path: Path
) -> None:
    app = AppSpec(
        settings={
            "enable_client_events": True,
            "enable_subscription_count": True,
            "webhooks": [
                {"url": receiver.url("/all"), "headers": {"X-Environment": "test"}},
                {
                    "url": receiver.url("/members"),
                    "event_types": ["member_added", "member_removed"],
                    "filter": {"channel_name_starts_with": "presence-"},
                },
            ],
        }
    )
    server = await start_tidings([app], webhook_settings(tmp_path / "data"))
    sdk = sdk_for(server)

    alice = await RawClient.connect(server)
    await alice.subscribe("orders")
    await alice.subscribe("presence-room", sdk, {"user_id": "alice", "user_info": {"n": 1}})
    await alice.subscribe("private-chat", sdk)
    await alice.send("client-typing", {"who": "alice"}, channel="private-chat")
    await alice.send("client-wave", "hello", channel="presence-room")
    await alice.subscribe("cache-prices")
    socket_id = alice.socket_id

    def event(name: str, channel: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "channel": channel, **extra}

    activity = [
        event("channel_occupied", "orders"),
        event("subscription_count", "orders", subscription_count=1),
        event("channel_occupied", "presence-room"),
        event("member_added", "presence-room", user_id="alice"),
        event("channel_occupied", "private-chat"),
        event("subscription_count", "private-chat", subscription_count=1),
        event(
            "client_event",
            "private-chat",
            event="client-typing",
            data=json.dumps({"who": "alice"}, separators=(",", ":")),
            socket_id=socket_id,
        ),
        event(
            "client_event",
            "presence-room",
            event="client-wave",
            data="hello",
            socket_id=socket_id,
            user_id="alice",
        ),
        event("channel_occupied", "cache-prices"),
        event("cache_miss", "cache-prices"),
        event("subscription_count", "cache-prices", subscription_count=1),
    ]
    await receiver.wait_for(lambda: len(receiver.events("/all")) >= len(activity))
    assert same_events(receiver.events("/all"), activity)

    await alice.close()
    departure = [
        event("channel_vacated", "orders"),
        event("channel_vacated", "presence-room"),
        event("member_removed", "presence-room", user_id="alice"),
        event("channel_vacated", "private-chat"),
        event("channel_vacated", "cache-prices"),
        event("subscription_count", "orders", subscription_count=0),
        event("subscription_count", "private-chat", subscription_count=0),
        event("subscription_count", "cache-prices", subscription_count=0),
    ]
    expected = activity + departure
    await receiver.wait_for(lambda: len(receiver.events("/all")) >= len(expected))
    assert same_events(receiver.events("/all"), expected)
    # The filtered target got only presence membership, nothing else (its own requests may
    # arrive after the other target's).
    await receiver.wait_for(lambda: len(receiver.events("/members")) >= 2)
    assert receiver.events("/members") == [
        event("member_added", "presence-room", user_id="alice"),
        event("member_removed", "presence-room", user_id="alice"),
    ]

    requests = receiver.requests
    assert all(request.status == 200 for request in requests)
    assert {request.headers["content-type"] for request in requests} == {"application/json"}
    assert {request.headers["x-pusher-key"] for request in requests} == {"test-key"}
    assert all(r.headers.get("x-environment") == "test" for r in requests if r.path == "/all")
    assert all(python_sdk_accepts(request, app) for request in requests)
    assert node_sdk_accepts(requests, app) == [True] * len(requests)
    # Batched: the burst of activity did not take one request per event.
    assert len([r for r in requests if r.path == "/all"]) < len(expected)


async def test_a_tampered_body_or_another_apps_secret_is_refused_by_both_sdks(
    receiver: Receiver, start_tidings: StartTidings, tmp_path: Path
) -> None:
    """The validators really check: the same request fails with a wrong secret or body."""
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    server = await start_tidings([app], webhook_settings(tmp_path / "data"))
    client = await RawClient.connect(server)
    await client.subscribe("orders")
    await receiver.wait_for(lambda: bool(receiver.accepted))
    await client.close()
    [request] = receiver.accepted[:1]
    assert python_sdk_accepts(request, app)
    impostor = AppSpec(secret="not-the-secret")
    tampered = type(request)(
        request.path, request.headers, request.body.replace(b"orders", b"ordered"), 200
    )
    assert not python_sdk_accepts(request, impostor)
    assert not python_sdk_accepts(tampered, app)
    assert node_sdk_accepts([request, request, tampered], app)[0]
    assert node_sdk_accepts([request, tampered], impostor) == [False, False]
