"""tidings.testing without pytest's help: the server, its resets, the recorder."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pusher
import pytest

from tidings.config import ConfigError
from tidings.testing import EventRecorder, PusherSocket, TidingsServer, run
from tidings.testing.state import RESET_CLOSE_CODE


@pytest.fixture(scope="module")
def server() -> Iterator[TidingsServer]:
    with run() as instance:
        yield instance


@pytest.fixture
def recorder(server: TidingsServer) -> Iterator[EventRecorder]:
    server.reset()
    events = EventRecorder()
    events.attach(server.observe)
    yield events
    events.detach()


async def _activity_timeout(server: TidingsServer) -> int:
    return server._current().ctx.config.server.activity_timeout  # white box: the live config


def sdk(server: TidingsServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id,
        key=server.key,
        secret=server.secret,
        host=server.host,
        port=server.port,
        ssl=False,
    )


def test_it_says_where_it_is() -> None:
    # How fast it starts is measured apart (the closing note's command), never in a test.
    with run() as server:
        assert server.started_in is not None
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ws_url.startswith(f"ws://127.0.0.1:{server.port}/app/{server.key}?")
        env = server.env()
        assert (env["PUSHER_APP_ID"], env["PUSHER_KEY"], env["PUSHER_SECRET"]) == (
            server.app_id,
            server.key,
            server.secret,
        )
        assert (env["PUSHER_HOST"], env["PUSHER_PORT"]) == ("127.0.0.1", str(server.port))
        assert sdk(server).channels_info() == {"channels": {}}


def test_two_servers_do_not_share_a_port() -> None:
    with run() as one, run() as two:
        assert one.port != two.port


def test_the_recorder_sees_what_the_http_api_published(
    server: TidingsServer, recorder: EventRecorder
) -> None:
    sdk(server).trigger(["a", "b"], "greeting", {"hello": "world"}, socket_id="1.2")
    sdk(server).trigger("c", "plain", "not json")

    first = recorder.wait_for("b", "greeting")
    assert (first.channel, first.name, first.data) == ("b", "greeting", {"hello": "world"})
    assert (first.socket_id, first.user_id, first.client_event) == ("1.2", None, False)
    assert recorder.wait_for("c").data == "not json"
    assert [e.channel for e in recorder.events] == ["a", "b", "c"]
    assert [e.channel for e in recorder.on("a")] == ["a"]


def test_wait_for_wakes_when_the_event_comes_not_on_a_poll(
    server: TidingsServer, recorder: EventRecorder
) -> None:
    client = sdk(server)
    timer = threading.Timer(0.2, client.trigger, ("later", "late", {}))
    started = time.monotonic()
    timer.start()
    event = recorder.wait_for("later", "late", timeout=5)
    waited = time.monotonic() - started
    timer.join()
    assert event.name == "late"
    assert 0.2 <= waited < 1.0


def test_a_missing_event_fails_listing_what_was_published(
    server: TidingsServer, recorder: EventRecorder
) -> None:
    with pytest.raises(AssertionError, match="nothing was published at all"):
        recorder.wait_for("user-1", "new-message", timeout=0.05)
    sdk(server).trigger("user-2", "new-message", {"message": "wrong user"})
    with pytest.raises(AssertionError) as failure:
        recorder.wait_for("user-1", "new-message", timeout=0.05)
    assert "no event 'new-message' on 'user-1' was published within 0.05 s" in str(failure.value)
    assert "'user-2' 'new-message' {\"message\":" in str(failure.value)


def test_assert_nothing(server: TidingsServer, recorder: EventRecorder) -> None:
    recorder.assert_nothing()
    sdk(server).trigger("noisy", "x", {})
    recorder.wait_for("noisy", "x")
    recorder.assert_nothing("quiet")
    with pytest.raises(AssertionError, match="expected nothing published on 'noisy', got 1"):
        recorder.assert_nothing("noisy")
    with pytest.raises(AssertionError, match="anywhere"):
        recorder.assert_nothing()


async def test_wait_for_async_does_not_block_the_loop(
    server: TidingsServer, recorder: EventRecorder
) -> None:
    client = sdk(server)
    waiting = asyncio.ensure_future(recorder.wait_for_async("async", "ev"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await asyncio.to_thread(client.trigger, "async", "ev", {"n": 1})
    assert (await asyncio.wait_for(waiting, 5)).data == {"n": 1}
    with pytest.raises(AssertionError, match="published instead"):
        await recorder.wait_for_async("async", "other", timeout=0.05)


def test_observers_are_detached(server: TidingsServer) -> None:
    seen: list[str] = []
    stop = server.observe(lambda published: seen.append(published.channel))
    sdk(server).trigger("one", "x", {})
    stop()
    sdk(server).trigger("two", "x", {})
    assert seen == ["one"]


async def test_a_reset_closes_the_sockets_and_forgets_the_cache(server: TidingsServer) -> None:
    server.reset()
    socket = await PusherSocket(server.ws_url, server.key, server.secret).connect()
    await socket.subscribe("cache-room")
    assert "cache-room" in sdk(server).channels_info()["channels"]
    sdk(server).trigger("cache-room", "latest", {"n": 1})
    await socket.next_event("cache-room", "latest")

    await asyncio.to_thread(server.reset)
    with pytest.raises(AssertionError, match="closed"):
        await socket.next_event(name="never", timeout=5)
    assert socket.close_code == RESET_CLOSE_CODE
    assert sdk(server).channels_info() == {"channels": {}}

    again = await PusherSocket(server.ws_url, server.key, server.secret).connect()
    await again.subscribe("cache-room")
    miss = await again.next_event("cache-room", "pusher:cache_miss")
    assert miss.name == "pusher:cache_miss"  # the cached event went with the reset
    await again.close()
    await socket.close()


def test_settings_per_reset_and_their_errors(server: TidingsServer) -> None:
    server.reset(enable_client_events=True, max_presence_members_per_channel=3)
    assert server.app.enable_client_events
    assert server.app.max_presence_members_per_channel == 3
    server.reset()
    assert not server.app.enable_client_events
    with pytest.raises(ConfigError, match="cannot be changed per test"):
        server.reset(key="another")
    with pytest.raises(ConfigError, match="unknown app setting 'no_such_thing'"):
        server.reset(no_such_thing=1)
    with pytest.raises(ConfigError, match="'port' is fixed"):
        server.reset(server={"port": 1234})
    with pytest.raises(ConfigError, match="unknown server setting 'nope'"):
        server.reset(server={"nope": 1})
    assert server.app.max_presence_members_per_channel == 100  # a refused reset changes nothing
    server.reset(server={"activity_timeout": "7"})  # as --tidings-app server.NAME=VALUE gives it
    assert server.call(_activity_timeout(server)) == 7


def test_the_receiver_records_only_signed_webhooks_as_events(server: TidingsServer) -> None:
    import urllib.request

    from tidings.testing import WebhookReceiver

    server.reset()
    receiver = WebhookReceiver.start(server)
    try:
        url = receiver.begin()
        body = b'{"time_ms": 1, "events": [{"name": "channel_occupied", "channel": "x"}]}'
        forged = urllib.request.Request(
            url,
            data=body,
            headers={"X-Pusher-Key": server.key, "X-Pusher-Signature": "0" * 64},
            method="POST",
        )
        with urllib.request.urlopen(forged, timeout=5) as answer:
            assert answer.status == 200
        [request] = receiver.requests
        assert not request.valid
        assert request.events == ({"name": "channel_occupied", "channel": "x"},)
        assert receiver.events == []
        with pytest.raises(AssertionError, match="1 request\\(s\\) had a wrong signature"):
            receiver.wait_for("channel_occupied", timeout=0.05)

        stale = urllib.request.Request(url, data=body, method="POST")
        receiver.begin()  # a new test: the old path is acknowledged and ignored
        with urllib.request.urlopen(stale, timeout=5) as answer:
            assert answer.status == 200
        assert receiver.requests == []
    finally:
        receiver.stop()
