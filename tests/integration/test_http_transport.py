"""HTTP/1.1 as tidings' own network layer speaks it, end to end against ``tidings serve``.

Keep-alive, pipelining, connection close, the bounds on slow, idle, oversized and malformed
requests, and clients that vanish halfway. Raw sockets where a library would hide the bytes;
requests are signed by the official pusher-http-python SDK (its own ``Request`` object, so the
signature is never ours). Every read has a timeout; nothing sleeps waiting for the server: a
test that needs a server-side timeout sets it small and reads until the answer or EOF.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pytest

from tests.support.raw_client import sdk_for
from tests.support.server import TidingsServer

MakeServer = Callable[..., TidingsServer]
TIMEOUT = 5.0  # for every read: far above any answer's latency, far below a hung test
MIB = 1024 * 1024
MAX_BODY = 10 * MIB  # MAX_BODY_BYTES in src/tidings/server/api/base.py


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        assert self.headers["content-type"].startswith("application/json"), self
        return json.loads(self.body)

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class Wire:
    """One raw TCP connection: bytes out, responses parsed off the stream by Content-Length."""

    def __init__(self, server: TidingsServer) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bool:
        """Read what arrives (waiting at most TIMEOUT); False at EOF or a reset."""
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def reply(self) -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            if not self._more():
                raise AssertionError(f"closed before a whole response head: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            if not self._more():
                raise AssertionError(f"closed {length - len(self.buffer)} bytes short of a body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Reply(int(status), headers, body)

    def expect_eof(self) -> None:
        """Read until the server ends the connection (TimeoutError if it does not)."""
        while self._more():
            pass
        assert self.buffer == b"", f"unexpected bytes before EOF: {self.buffer!r}"

    def readable(self, timeout: float) -> bool:
        return bool(self.buffer) or bool(select.select([self.sock], [], [], timeout)[0])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def get(path: str, *headers: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: tidings.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def signed_trigger(
    server: TidingsServer, channel: str = "transport", n: int = 0, pad: str = ""
) -> Any:
    """pusher-http-python's own signed ``POST /apps/{id}/events``: path, query, headers, body."""
    sdk = sdk_for(server)
    data = {"n": n, "pad": pad} if pad else {"n": n}
    return sdk._pusher_client.trigger.make_request([channel], "tick", data)


def trigger_head(server: TidingsServer, request: Any, headers: Iterable[str]) -> bytes:
    lines = [
        f"POST {request.signed_path} HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        *(f"{name}: {value}" for name, value in request.headers.items()),
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def trigger(
    server: TidingsServer, *headers: str, channel: str = "transport", n: int = 0, pad: str = ""
) -> bytes:
    """A whole signed trigger request, ready for the wire."""
    request = signed_trigger(server, channel, n, pad)
    body: bytes = request.body
    return trigger_head(server, request, [f"Content-Length: {len(body)}", *headers]) + body


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def assert_ok_trigger(reply: Reply) -> None:
    assert (reply.status, reply.body) == (200, b"{}"), reply
    assert not reply.closes, reply


def assert_error(reply: Reply, status: int, mentions: str = "") -> None:
    assert reply.status == status, reply
    body = reply.json()
    assert body["code"] == status, body
    assert isinstance(body["error"], str) and body["error"], body
    assert mentions.lower() in body["error"].lower(), body


def assert_healthy(server: TidingsServer) -> None:
    """A new connection is served (readiness and a signed trigger), and nothing crashed."""
    with Wire(server) as wire:
        wire.send(get("/ready"))
        ready = wire.reply()
        assert (ready.status, ready.body) == (200, b"OK"), ready
        wire.send(trigger(server, channel="health"))
        assert_ok_trigger(wire.reply())
    assert "Traceback" not in server.log(), server.log()


# -- 1. keep-alive -----------------------------------------------------------------------------


def test_fifty_triggers_share_one_keep_alive_connection(make_server: MakeServer) -> None:
    server = make_server()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        connection.connect()
        sock = connection.sock
        local = sock.getsockname()
        for n in range(50):
            request = signed_trigger(server, n=n)
            connection.request("POST", request.signed_path, request.body, request.headers)
            response = connection.getresponse()
            body = response.read()
            assert (response.status, body) == (200, b"{}"), (n, response.status, body)
            assert response.getheader("Connection") is None, n
            assert response.getheader("Content-Type") == "application/json"
            assert not response.will_close, n
            # http.client drops (and would silently reopen) a socket the server closed.
            assert connection.sock is sock, f"reconnected before request {n + 1}"
        assert sock.getsockname() == local
        connection.request("GET", "/ready")
        assert connection.getresponse().read() == b"OK"
        assert connection.sock is sock
    finally:
        connection.close()
    assert_healthy(server)


def test_the_sdk_reuses_one_pooled_connection(make_server: MakeServer) -> None:
    """The SDK's requests session keeps its one connection for 50 triggers and a read."""
    server = make_server()
    sdk = sdk_for(server)
    for n in range(50):
        assert sdk.trigger("transport", "tick", {"n": n}) == {}
    assert sdk.channels_info() == {"channels": {}}
    pools = sdk._pusher_client.http.session.get_adapter(server.url).poolmanager.pools
    keys = pools.keys()  # urllib3's RecentlyUsedContainer refuses plain iteration
    counts = [(pools[key].num_connections, pools[key].num_requests) for key in keys]
    assert counts == [(1, 51)]


# -- 2. pipelining -----------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order(make_server: MakeServer) -> None:
    server = make_server()
    with Wire(server) as wire:
        wire.send(get("/") + trigger(server) + get("/nope"))
        index, triggered, missing = wire.reply(), wire.reply(), wire.reply()
        assert (index.status, index.body) == (200, b"OK")
        assert index.headers["content-type"].startswith("text/plain")
        assert_ok_trigger(triggered)
        assert_error(missing, 404, "/nope")
        assert not missing.closes
        # The connection is still good for more.
        wire.send(get("/ready"))
        assert wire.reply().body == b"OK"
    assert_healthy(server)


def test_a_deep_pipeline_keeps_order_past_the_queue_bound(make_server: MakeServer) -> None:
    """More pipelined requests than the layer queues (16) before it stops reading."""
    server = make_server()
    paths = [f"/nope-{i}" if i % 3 else "/" for i in range(60)]
    with Wire(server) as wire:
        wire.send(b"".join(get(path) for path in paths) + trigger(server))
        for path in paths:
            reply = wire.reply()
            if path == "/":
                assert (reply.status, reply.body) == (200, b"OK"), path
            else:
                assert_error(reply, 404, path + " ")
        assert_ok_trigger(wire.reply())
    assert_healthy(server)


def test_a_thousand_requests_in_one_write_are_all_answered_in_order(
    make_server: MakeServer,
) -> None:
    """One read can bring the server thousands of small pipelined requests at once."""
    server = make_server()
    paths = [f"/nope-{i}" if i % 10 == 0 else "/ready" for i in range(1000)]
    with Wire(server) as wire:
        wire.send(b"".join(f"GET {path} HTTP/1.1\r\n\r\n".encode() for path in paths))
        for i, path in enumerate(paths):
            reply = wire.reply()
            if path == "/ready":
                assert (reply.status, reply.body) == (200, b"OK"), (i, reply)
            else:
                assert_error(reply, 404, path + " ")
        wire.send(get("/"))
        assert wire.reply().body == b"OK"
    assert_healthy(server)


# -- 3. closing the connection -----------------------------------------------------------------


def test_http_1_0_without_keep_alive_is_answered_then_closed(make_server: MakeServer) -> None:
    server = make_server()
    with Wire(server) as wire:
        wire.send(b"GET / HTTP/1.0\r\n\r\n")
        reply = wire.reply()
        assert (reply.status, reply.body) == (200, b"OK")
        assert reply.closes
        wire.expect_eof()
    assert_healthy(server)


def test_connection_close_is_echoed_then_closed(make_server: MakeServer) -> None:
    server = make_server()
    with Wire(server) as wire:
        wire.send(get("/", "Connection: close"))
        reply = wire.reply()
        assert (reply.status, reply.body) == (200, b"OK")
        assert reply.closes
        wire.expect_eof()
    with Wire(server) as wire:
        wire.send(trigger(server, "Connection: close"))
        reply = wire.reply()
        assert (reply.status, reply.body) == (200, b"{}")
        assert reply.closes
        wire.expect_eof()
    assert_healthy(server)


def test_requests_pipelined_behind_connection_close_are_not_served(
    make_server: MakeServer,
) -> None:
    server = make_server()
    with Wire(server) as wire:
        wire.send(get("/", "Connection: close") + get("/nope"))
        reply = wire.reply()
        assert (reply.status, reply.closes) == (200, True)
        wire.expect_eof()
    assert_healthy(server)


HALF_CLOSED_REQUESTS: dict[str, Callable[[TidingsServer], bytes]] = {
    "index": lambda server: get("/"),
    "trigger": lambda server: trigger(server),
    "channels": lambda server: get(
        sdk_for(server)._pusher_client.channels_info.make_request().signed_path
    ),
}


@pytest.mark.parametrize("kind", HALF_CLOSED_REQUESTS)
def test_a_half_closed_client_still_gets_its_answer(make_server: MakeServer, kind: str) -> None:
    """A client that shuts its sending side after the request (``nc``, some proxies) is
    answered, then the connection ends."""
    server = make_server()
    with Wire(server) as wire:
        wire.send(HALF_CLOSED_REQUESTS[kind](server))
        wire.sock.shutdown(socket.SHUT_WR)
        reply = wire.reply()
        assert reply.status == 200, reply
        wire.expect_eof()
    assert_healthy(server)


# -- 4. slow requests --------------------------------------------------------------------------


def test_headers_a_byte_at_a_time_get_408_while_others_are_served(
    make_server: MakeServer,
) -> None:
    server = make_server(server={"request_timeout": 1})
    request = trigger(server)  # some 300 bytes: at 20 a second, far past the timeout
    quick: Reply | None = None
    quick_took = 0.0
    with Wire(server) as slow:
        started = time.monotonic()
        sent = 0
        while not slow.readable(0.05):  # the pause between bytes is this wait for an answer
            assert sent < len(request) - 4, "the dribbled headers were never refused"
            try:
                slow.send(request[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break  # refused between our select and send: the answer is waiting to be read
            sent += 1
            if sent == 5:  # the slow request is under way: a good one on a new connection
                with Wire(server) as other:
                    begun = time.monotonic()
                    other.send(trigger(server))
                    quick = other.reply()
                    quick_took = time.monotonic() - begun
        refused = slow.reply()
        waited = time.monotonic() - started
        assert_error(refused, 408)
        assert refused.closes
        slow.expect_eof()
    assert 0.9 <= waited < 4.0, waited
    assert quick is not None
    assert_ok_trigger(quick)
    assert quick_took < 0.9, quick_took
    assert_healthy(server)


def test_a_body_that_stalls_gets_408(make_server: MakeServer) -> None:
    server = make_server(server={"request_timeout": 1})
    request = signed_trigger(server)
    with Wire(server) as wire:
        started = time.monotonic()
        wire.send(trigger_head(server, request, [f"Content-Length: {len(request.body)}"]))
        wire.send(request.body[:5])
        refused = wire.reply()
        waited = time.monotonic() - started
        assert_error(refused, 408)
        assert refused.closes
        wire.expect_eof()
    assert 0.9 <= waited < 4.0, waited
    assert_healthy(server)


# -- 5. idle connections -----------------------------------------------------------------------


def test_an_idle_keep_alive_connection_is_closed(make_server: MakeServer) -> None:
    server = make_server(server={"keepalive_timeout": 1})
    with Wire(server) as wire:
        wire.send(get("/"))
        reply = wire.reply()
        assert (reply.status, reply.closes) == (200, False)
        answered = time.monotonic()
        wire.expect_eof()
        idle = time.monotonic() - answered
    assert 0.9 <= idle < 4.0, idle
    assert_healthy(server)


def test_a_connection_that_never_sends_is_closed(make_server: MakeServer) -> None:
    server = make_server(server={"keepalive_timeout": 1})
    with Wire(server) as wire:
        opened = time.monotonic()
        wire.expect_eof()
        idle = time.monotonic() - opened
    assert 0.9 <= idle < 4.0, idle
    assert_healthy(server)


def test_a_busy_keep_alive_connection_is_not_closed(make_server: MakeServer) -> None:
    """The idle clock restarts with each answer: requests 0.3 s apart for over two timeouts."""
    server = make_server(server={"keepalive_timeout": 1})
    with Wire(server) as wire:
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            wire.send(get("/ready"))
            assert wire.reply().body == b"OK"
            assert not wire.readable(0.3), "the server closed a connection in use"
    assert_healthy(server)


# -- 6. header size ----------------------------------------------------------------------------


def test_headers_over_max_header_bytes_get_431_and_close(make_server: MakeServer) -> None:
    server = make_server(server={"max_header_bytes": 4096})
    with Wire(server) as wire:
        wire.send(get("/", "X-Big: " + "a" * 10_240))
        refused = wire.reply()
        assert_error(refused, 431)
        assert refused.closes
        wire.expect_eof()
    with Wire(server) as wire:  # under the bound is fine
        wire.send(get("/", "X-Fits: " + "a" * 3000))
        assert wire.reply().status == 200
    assert_healthy(server)


def test_many_small_headers_over_the_bound_get_431(make_server: MakeServer) -> None:
    server = make_server(server={"max_header_bytes": 4096})
    with Wire(server) as wire:
        wire.send(get("/", *(f"X-H{i}: {'v' * 40}" for i in range(200))))
        assert_error(wire.reply(), 431)
        wire.expect_eof()
    assert_healthy(server)


def test_oversized_headers_are_refused_without_waiting_for_their_end(
    make_server: MakeServer,
) -> None:
    """Headers that pass the bound and go on (never ending the head) are refused at once, not
    buffered until request_timeout: that is what the bound is for."""
    server = make_server(server={"max_header_bytes": 4096, "request_timeout": 30})
    with Wire(server) as wire:
        wire.send(b"GET / HTTP/1.1\r\nHost: tidings.test\r\nX-Big: " + b"a" * 10_240)
        refused = wire.reply()  # within TIMEOUT, long before the 30 s request timeout
        assert_error(refused, 431)
        wire.expect_eof()
    assert_healthy(server)


def test_a_head_split_across_reads_behind_a_big_request_is_not_431(
    make_server: MakeServer,
) -> None:
    """Only the head counts against max_header_bytes: not the body of the request before it,
    which arrived in the same read."""
    server = make_server(server={"max_header_bytes": 4096})
    big = trigger(server, pad="x" * 5000)  # a body of some 5 KB; heads well under 4 KiB
    following = trigger(server, n=2)
    cut = following.index(b"\r\n") + 2  # the next request line, then the rest of its head
    with Wire(server) as wire:
        wire.send(big + following[:cut])
        assert_ok_trigger(wire.reply())
        wire.send(following[cut:])
        assert_ok_trigger(wire.reply())
    assert_healthy(server)


# -- 7. body size ------------------------------------------------------------------------------


def test_content_length_over_the_limit_gets_413_before_the_body(make_server: MakeServer) -> None:
    server = make_server(server={"request_timeout": 30})  # a 408 cannot stand in for the 413
    request = signed_trigger(server)
    with Wire(server) as wire:
        wire.send(trigger_head(server, request, [f"Content-Length: {11 * MIB}"]))
        refused = wire.reply()  # nothing of the body was sent
        assert_error(refused, 413)
        assert refused.closes
        wire.expect_eof()
    assert_healthy(server)


def test_content_length_at_the_limit_is_read(make_server: MakeServer) -> None:
    """Exactly 10 MiB passes the network layer and reaches the endpoint."""
    server = make_server()
    request = signed_trigger(server)
    with Wire(server) as wire:
        wire.send(trigger_head(server, request, [f"Content-Length: {MAX_BODY}"]))
        wire.send(b" " * MAX_BODY)
        # Read whole: the SDK signed another body, so the signature check refuses it.
        assert_error(wire.reply(), 401, "body_md5")
    assert_healthy(server)


def test_a_chunked_body_over_the_limit_gets_413(make_server: MakeServer) -> None:
    server = make_server(server={"request_timeout": 30})
    request = signed_trigger(server)
    chunk = b"%x\r\n%s\r\n" % (MIB, b"x" * MIB)
    with Wire(server) as wire:
        wire.send(trigger_head(server, request, ["Transfer-Encoding: chunked"]))
        try:
            for _ in range(12):
                wire.send(chunk)
            wire.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused (and closed) before we were done sending
        refused = wire.reply()
        assert_error(refused, 413)
        assert refused.closes
        wire.expect_eof()
    assert_healthy(server)


def test_a_small_chunked_trigger_is_served(make_server: MakeServer) -> None:
    server = make_server()
    request = signed_trigger(server)
    with Wire(server) as wire:
        wire.send(trigger_head(server, request, ["Transfer-Encoding: chunked"]))
        wire.send(chunked(request.body, 7))
        assert_ok_trigger(wire.reply())
        wire.send(get("/ready"))
        assert wire.reply().body == b"OK"
    assert_healthy(server)


# -- 8. malformed requests ---------------------------------------------------------------------


def test_a_malformed_request_line_gets_400_and_close(make_server: MakeServer) -> None:
    server = make_server()
    for garbage in (
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32,  # a TLS ClientHello
    ):
        with Wire(server) as wire:
            wire.send(garbage)
            refused = wire.reply()
            assert_error(refused, 400)
            assert refused.closes, garbage
            wire.expect_eof()
        assert_healthy(server)


def test_a_malformed_request_after_a_good_one_keeps_response_order(
    make_server: MakeServer,
) -> None:
    """Pipelined: a good request, then garbage. The good one is answered first (200), then the
    400: a 400 in its place would be read as the good request's answer."""
    server = make_server()
    with Wire(server) as wire:
        wire.send(trigger(server) + b"GARBAGE\r\n\r\n")
        assert_ok_trigger(wire.reply())
        assert_error(wire.reply(), 400)
        wire.expect_eof()
    assert_healthy(server)


def test_conflicting_content_lengths_get_400(make_server: MakeServer) -> None:
    """Request smuggling's classic: two lengths. Refused, never guessed."""
    server = make_server()
    with Wire(server) as wire:
        wire.send(
            b"POST /apps/4242/events HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello"
        )
        assert_error(wire.reply(), 400)
        wire.expect_eof()
    assert_healthy(server)


# -- 9. clients that vanish mid-request --------------------------------------------------------


def test_clients_vanishing_mid_request_leave_the_server_healthy(make_server: MakeServer) -> None:
    server = make_server()
    whole = trigger(server)
    head_end = whole.index(b"\r\n\r\n")
    cuts = {
        "half the headers": whole[: head_end // 2],
        "headers without their blank line": whole[:head_end],
        "half the body": whole[: head_end + 4 + (len(whole) - head_end - 4) // 2],
    }
    for name, data in cuts.items():
        for reset in (False, True):
            wire = Wire(server)
            wire.send(data)
            if reset:  # SO_LINGER 0: the close is an RST, not a FIN
                wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            wire.close()
            with Wire(server) as after:
                after.send(get("/ready"))
                assert after.reply().body == b"OK", (name, reset)
    with Wire(server) as vanished:  # a whole request, gone before its answer
        vanished.send(trigger(server))
    assert_healthy(server)


# -- 10. routes --------------------------------------------------------------------------------


def test_unknown_routes_get_a_json_404(make_server: MakeServer) -> None:
    server = make_server()
    with Wire(server) as wire:
        for request in (get("/nope"), get("/apps/4242/nothing"), b"DELETE / HTTP/1.1\r\n\r\n"):
            wire.send(request)
            reply = wire.reply()
            assert_error(reply, 404)
            assert set(reply.json()) == {"error", "code"}
            assert not reply.closes
    assert_healthy(server)


def test_websocket_path_without_an_upgrade_is_refused_not_crashed(make_server: MakeServer) -> None:
    server = make_server()
    key = server.app.key
    with Wire(server) as wire:
        wire.send(get(f"/app/{key}?protocol=7&client=js&version=8.4.0"))
        assert_error(wire.reply(), 400, "upgrade")
    with Wire(server) as wire:
        wire.send(get(f"/app/{key}", "Connection: keep-alive"))
        assert_error(wire.reply(), 400)
    with Wire(server) as wire:
        wire.send(b"POST /app/" + key.encode() + b" HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        reply = wire.reply()
        assert_error(reply, 405)
        assert reply.headers.get("allow") == "GET"
    assert_healthy(server)


# -- 11. many connections ----------------------------------------------------------------------


async def five_triggers(server: TidingsServer, index: int) -> list[int]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    statuses: list[int] = []
    try:
        for n in range(5):
            writer.write(trigger(server, channel=f"many-{index % 20}", n=n))
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines if line)
            body = await reader.readexactly(int(headers["content-length"]))
            assert body == b"{}", (index, n, head, body)
            assert "connection" not in headers, (index, n, head)
            statuses.append(int(status_line.split(" ")[1]))
    finally:
        writer.close()
        await writer.wait_closed()
    return statuses


async def test_two_hundred_keep_alive_connections_at_once(make_server: MakeServer) -> None:
    server = make_server()
    results = await asyncio.wait_for(
        asyncio.gather(*(five_triggers(server, i) for i in range(200))), timeout=60
    )
    assert results == [[200] * 5] * 200
    await asyncio.to_thread(assert_healthy, server)
