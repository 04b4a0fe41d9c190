"""An operator graphs tidings: ``/metrics`` in Prometheus' format, read with prometheus-client's
parser, counting what real clients (raw WebSockets, the official Python SDK) did."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from tests.support.metrics import Scrape, scrape, scrape_until
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import AppSpec, TidingsServer, free_port

MakeServer = Callable[..., TidingsServer]
call = asyncio.to_thread
APP = {"app_id": "4242"}


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_scrape_counts_connections_channels_members_and_api_calls(
    make_server: MakeServer,
) -> None:
    server = make_server(enable_client_events=True)
    sdk = sdk_for(server)
    alice, bob = await RawClient.connect(server), await RawClient.connect(server)
    try:
        await alice.subscribe("news")
        await alice.subscribe("private-chat", sdk)
        await alice.subscribe("cache-weather")
        await alice.subscribe("presence-room", sdk, {"user_id": "alice"})
        await bob.subscribe("presence-room", sdk, {"user_id": "bob"})
        await bob.subscribe("private-chat", sdk)
        await call(sdk.trigger, ["news", "private-chat"], "headline", {"n": 1})
        await alice.expect("headline", "news")
        await bob.expect("headline", "private-chat")
        with pytest.raises(Exception, match="401"):
            await call(sdk_for(server, secret="not-the-secret").trigger, "news", "x", {})
        await alice.send("client-typing", {"who": "alice"}, "private-chat")
        await bob.expect("client-typing", "private-chat")
        trigger = {"endpoint": "trigger_event", **APP}

        # Under --workers each worker's figures reach the others within a second.
        metrics = await scrape_until(
            server.url,
            lambda m: (
                m.value("tidings_socket_messages_received_total", **APP) == 7
                and m.value("tidings_http_requests_total", status="401", **trigger) == 1
                and m.value("tidings_http_requests_total", status="200", **trigger) == 1
            ),
        )
        assert metrics.types["tidings_connections"] == "gauge"
        assert metrics.types["tidings_http_request_duration_seconds"] == "histogram"
        assert metrics.value("tidings_connections", **APP) == 2
        assert metrics.value("tidings_connections_opened_total", **APP) == 2
        for kind, subscriptions in (("public", 1), ("private", 2), ("cache", 1), ("presence", 2)):
            assert metrics.value("tidings_subscriptions", kind=kind, **APP) == subscriptions
            # A channel counts once per process holding subscribers to it (--workers adds up).
            assert 1 <= metrics.value("tidings_channels", kind=kind, **APP) <= subscriptions
        assert metrics.value("tidings_presence_members", **APP) == 2
        assert metrics.value("tidings_http_requests_total", status="200", **trigger) == 1
        assert metrics.value("tidings_http_requests_total", status="401", **trigger) == 1
        # A sample is timed (api/base.py): the first request, and more once 10 ms have passed.
        timed = metrics.value("tidings_http_request_duration_seconds_count", **trigger)
        assert 1 <= timed <= 2
        assert (
            metrics.value("tidings_http_request_duration_seconds_bucket", le="+Inf", **trigger)
            == timed
        )
        assert metrics.value("tidings_events_published_total", source="api", **APP) == 2
        assert metrics.value("tidings_events_published_total", source="client", **APP) == 1
        # 2 handshakes, 6 acks, the member_added to alice, 2 headlines, 1 client event: 12+
        assert metrics.value("tidings_socket_messages_sent_total", **APP) >= 12
        assert metrics.value("tidings_socket_messages_received_total", **APP) == 7
        assert metrics.value("tidings_socket_received_bytes_total", **APP) > 7 * 40
        assert metrics.value("process_resident_memory_bytes") > 0
    finally:
        await alice.close()
        await bob.close()


async def test_open_connections_come_back_to_exactly_zero_after_abrupt_churn(
    make_server: MakeServer,
) -> None:
    server = make_server()
    for start in range(0, 1000, 100):
        clients = await asyncio.gather(*(RawClient.connect(server) for _ in range(100)))
        await asyncio.gather(*(c.subscribe(f"churn-{i % 7}") for i, c in enumerate(clients)))
        await scrape_until(
            server.url, lambda m: 100 <= m.value("tidings_connections", **APP) <= 200
        )
        # Every other one drops its TCP connection without a close frame.
        await asyncio.gather(
            *(c.vanish() if i % 2 else c.close() for i, c in enumerate(clients, start))
        )

    def settled(metrics: Scrape) -> bool:
        return metrics.total("tidings_connections_closed_total", **APP) == 1000

    metrics = await scrape_until(server.url, settled)
    assert metrics.value("tidings_connections", **APP) == 0
    assert metrics.total("tidings_subscriptions", **APP) == 0
    assert metrics.value("tidings_connections_opened_total", **APP) == 1000
    assert metrics.value("tidings_connections_closed_total", code="1000", **APP) == 500
    assert metrics.value("tidings_connections_closed_total", code="1006", **APP) == 500


async def test_refusals_are_counted_by_kind(make_server: MakeServer) -> None:
    server = make_server(enable_client_events=True, max_client_events_per_sec=2)
    sdk = sdk_for(server)
    client = await RawClient.connect(server)
    try:
        with pytest.raises(Exception, match="4001"):
            await RawClient.connect(server, key="nobody-has-this-key")
        await client.send("pusher:subscribe", {"channel": "private-locked", "auth": "4242:bad"})
        await client.expect("pusher:subscription_error", "private-locked")
        await client.subscribe("private-chat", sdk)
        for _ in range(4):
            await client.send("client-burst", {}, "private-chat")
        await client.expect("pusher:error")
        await client.expect("pusher:error")
        metrics = await scrape_until(
            server.url,
            lambda m: (
                m.value("tidings_rate_limited_total", limit="client_events", **APP) == 2
                and m.value("tidings_connections_refused_total", app_id="", code="4001") == 1
            ),
        )
    finally:
        await client.close()
    assert metrics.value("tidings_connections_refused_total", app_id="", code="4001") == 1
    assert metrics.value("tidings_subscriptions_refused_total", **APP) == 1
    assert metrics.value("tidings_rate_limited_total", limit="client_events", **APP) == 2
    assert metrics.value("tidings_events_published_total", source="client", **APP) == 2


async def test_requests_for_unknown_apps_share_one_label(make_server: MakeServer) -> None:
    server = make_server()
    for app_id in ("1", "2", "3"):
        status = await call(get_status, f"{server.url}/apps/{app_id}/channels")
        assert status == 404
    labels = {"app_id": "", "endpoint": "list_channels", "status": "404"}
    metrics = await scrape_until(
        server.url, lambda m: m.value("tidings_http_requests_total", **labels) == 3
    )
    assert not any(dict(ls).get("app_id") in ("1", "2", "3") for _, ls in metrics.samples)


async def test_a_private_metrics_port_takes_metrics_off_the_public_port() -> None:
    metrics_port = free_port()
    with TidingsServer([AppSpec()], {"metrics_port": metrics_port}) as server:
        assert await call(get_status, f"{server.url}/metrics") == 404
        private = f"http://127.0.0.1:{metrics_port}"
        metrics = await call(scrape, private)
        assert metrics.value("tidings_connections", **APP) == 0
        assert await call(get_status, f"{private}/live") == 200
        assert await call(get_status, f"{private}/ready") == 200
        assert await call(get_status, f"{private}/apps/4242/channels") == 404


async def test_the_probes_answer_for_an_orchestrator(make_server: MakeServer) -> None:
    server = make_server()
    assert await call(get_status, f"{server.url}/live") == 200
    assert await call(get_status, f"{server.url}/ready") == 200
