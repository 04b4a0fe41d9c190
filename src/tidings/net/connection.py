"""One asyncio Protocol per TCP connection, speaking HTTP/1.1 until an upgrade hands the
transport to a ``WebSocketConnection``.

No task or coroutine exists while a connection is idle: bytes arrive through ``data_received``
and httptools turns them into requests. A request whose handler suspends (the Redis hub) runs
in a task, one at a time per connection, so pipelined answers leave in order; against the
in-process hub it finishes eagerly, without one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, cast

import httptools

from tidings.background import start
from tidings.net import websocket as ws
from tidings.net.client_address import ProxyHeaderError, parse_proxy_header
from tidings.net.http import Request, Response, serialize
from tidings.net.websocket_connection import WebSocketConnection

if TYPE_CHECKING:
    from tidings.net.listener import Listener

log = logging.getLogger("tidings.net")

_HTTP, _UPGRADED, _CLOSED = 0, 1, 2
# Pipelined requests waiting behind the one being served; past this, stop reading.
MAX_QUEUED_REQUESTS = 16
MAX_PROXY_HEADER = 4096


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": message, "code": status}).encode()
    return Response(status, body, headers=headers)


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_body_size",
        "_completed",
        "_dispatching",
        "_eager",
        "_eof",
        "_handler",
        "_head_began",
        "_head_bytes",
        "_headers",
        "_in_head",
        "_listener",
        "_mode",
        "_parser",
        "_proxy_header",
        "_queue",
        "_refused",
        "_serving",
        "_upgrade_rest",
        "_url",
        "client",
        "idle_since",
        "request_started",
        "transport",
    )

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._handler = listener.handler
        self._eager = listener.handler.eager
        self._mode = _HTTP
        self._parser: httptools.HttpRequestParser | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._head_bytes = 0
        self._in_head = False
        self._head_began = False
        self._completed = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._refused: Response | None = None  # decided while parsing; sent once complete
        self._queue: list[Request] = []  # short: a deque would cost 600 B per socket
        self._serving = False
        self._dispatching = False
        self._eof = False
        self._upgrade_rest: bytes | None = None
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.request_started: float | None = None
        self.client = ""
        self._proxy_header: bytes | None = None  # read so far, while a PROXY header is due

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self._parser = httptools.HttpRequestParser(self)
        listener = self._listener
        self.idle_since = listener.now()
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) else ""
        if listener.proxy_protocol and self.client in listener.trusted_proxies:
            self._proxy_header = b""
            self.request_started = self.idle_since  # the sweep bounds a proxy that stays silent
        listener.opened(self)

    def data_received(self, data: bytes) -> None:
        if self._mode == _HTTP:
            if self._proxy_header is not None:
                data = self._read_proxy_header(data)
                if not data:
                    return
            if self._upgrade_rest is not None:  # upgrade pending behind earlier requests
                self._upgrade_rest += data
                return
            self._parse(data)

    def _read_proxy_header(self, data: bytes) -> bytes:
        """Take the PROXY header off the front; what follows it is HTTP."""
        assert self._proxy_header is not None
        data = self._proxy_header + data
        try:
            parsed = parse_proxy_header(data)
            if parsed is None and len(data) > MAX_PROXY_HEADER:  # a real proxy sends far less
                raise ProxyHeaderError("PROXY header too long")
        except ProxyHeaderError as error:
            # Not HTTP either, so no answer: the proxy is misconfigured or not a proxy at all.
            log.warning("closing a connection from trusted proxy %s: %s", self.client, error)
            self._proxy_header = None
            self._mode = _CLOSED
            if self.transport is not None:
                self.transport.abort()
            return b""
        if parsed is None:
            self._proxy_header = data
            return b""
        used, source = parsed
        self._proxy_header = None
        self.request_started = None
        if source is not None:
            self.client = source
        return data[used:]

    def eof_received(self) -> bool | None:
        # A half-closed peer sends nothing more, but may still read: what it asked is answered
        # first (True keeps our side open), then the connection closes.
        if self._mode != _HTTP:
            return None
        self._eof = True
        if not (self._serving or self._queue) and self.transport is not None:
            # Idle, but an answer may still wait for the end of this iteration: close behind it.
            self._mode = _CLOSED
            self._listener.write_soon(self.transport, b"", True)
        return None if self._listener.tls else True  # TLS has no half-close: it just ends

    def connection_lost(self, exc: Exception | None) -> None:
        self._mode = _CLOSED
        self._parser = None
        self._listener.closed(self)

    # -- HTTP ---------------------------------------------------------------------------------
    def _parse(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            return
        # Bytes that arrive while one request's head is still open all belong to that head.
        continuing = self._in_head
        self._head_began = self._completed = False
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade_rest = data[offset:]
            self._parser = None
        except httptools.HttpParserError:
            # Requests parsed before the bad bytes are answered first. Bytes after a
            # ``Connection: close`` request land here too, and are never answered: that
            # request's response closes the connection.
            self._refuse_now(_error(400, "Malformed HTTP request"))
        else:
            # llhttp reports a header only once it ends, so an open head is bounded by the
            # bytes it has sent: all of this read if the head was open before it or began at
            # its start (nothing completed before it); a head that began behind another
            # request in this read counts from the next read (at most one read over).
            if self._in_head and ((continuing and not self._head_began) or not self._completed):
                self._head_bytes += len(data)
                if self._head_bytes > self._listener.max_header_bytes:
                    self._refuse_now(_error(431, "Request headers are too large"))
        if not self._serving:
            self._next_request()

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._in_head = True
        self._head_began = True
        self._body = []
        self._body_size = 0
        self._refused = None
        self.request_started = self._listener.now()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._in_head = False
        head = len(self._url) + sum(len(k) + len(v) + 4 for k, v in self._headers.items())
        if head > self._listener.max_header_bytes:
            self._refuse_now(_error(431, "Request headers are too large"))
            return
        length = self._headers.get("content-length")
        limit = self._listener.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit and self._parser:
            # Refused before a byte of the body is read; the connection closes after the answer.
            self._refuse_now(_error(413, f"The request body is larger than {limit} bytes"))

    def on_body(self, body: bytes) -> None:
        if self._parser is None:  # refused: the rest is not read
            return
        self._body_size += len(body)
        if self._body_size > self._listener.max_body_bytes:  # chunked: no length to check first
            limit = self._listener.max_body_bytes
            self._refuse_now(_error(413, f"The request body is larger than {limit} bytes"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        if parser is None or self._mode != _HTTP:
            return
        self._completed = True
        self.request_started = None
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        client = self.client
        trusted = self._listener.trusted_proxies
        if trusted and "x-forwarded-for" in self._headers:
            client = trusted.forwarded_client(client, self._headers["x-forwarded-for"])
        request = Request(
            parser.get_method().decode("latin-1"),
            path,
            query,
            self._headers,
            b"".join(self._body),
            parser.should_keep_alive(),
            client,
        )
        self._queue.append(request)
        if len(self._queue) > MAX_QUEUED_REQUESTS and self.transport is not None:
            self.transport.pause_reading()

    def _refuse_now(self, response: Response) -> None:
        """Answer after what is already queued, then close: the rest of the stream is unread."""
        self._parser = None
        self._queue.append(Request("", "", "", {}, keep_alive=False))
        self._refused = response

    def _next_request(self) -> None:
        if self._dispatching:  # an eager request finished inside the loop below: it goes on
            return
        self._dispatching = True
        try:
            self._dispatch()
        finally:
            self._dispatching = False

    def _dispatch(self) -> None:
        while self._queue and not self._serving and self._mode == _HTTP:
            request = self._queue.pop(0)
            if not request.method:  # the marker of _refuse_now
                assert self._refused is not None
                self._respond_and_close(self._refused)
                return
            if self._handler.is_websocket(request.path):
                self._upgrade(request)
                return
            self._serving = True
            running = start(self._serve(request), self._eager)
            if running is not None:
                self._listener.track_request(running)
        if (
            not self._queue
            and not self._serving
            and self._upgrade_rest is None
            and self.transport is not None
        ):
            self.idle_since = self._listener.now()
            self.transport.resume_reading()

    async def _serve(self, request: Request) -> None:
        try:
            response = await self._handler.http(request)
        except Exception:  # a fault of ours costs this request, not the connection
            log.exception("HTTP %s %s failed", request.method, request.path)
            response = _error(500, "Internal server error")
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        keep_alive = request.keep_alive and not self._listener.draining
        if self._eof and not self._queue:
            keep_alive = False  # the peer is done sending: this was its last request
        self._serving = False
        if not keep_alive:
            self._mode = _CLOSED
        self._listener.write_soon(transport, serialize(response, keep_alive), not keep_alive)
        if keep_alive:
            self._next_request()

    def _respond_and_close(self, response: Response) -> None:
        transport = self.transport
        self._parser = None
        self._queue.clear()
        self._mode = _CLOSED
        if transport is not None and not transport.is_closing():
            # Behind any answer still to be written: pipelined answers keep their order.
            self._listener.write_soon(transport, serialize(response, keep_alive=False), True)

    def close_if_idle(self) -> None:
        """Close an HTTP connection between requests (keep-alive timeout, shutdown)."""
        if self._mode == _HTTP and not self._serving and not self._queue:
            self._mode = _CLOSED
            if self.transport is not None:
                self._listener.write_soon(self.transport, b"", True)

    def abort_slow_request(self) -> None:
        """Headers or body arriving too slowly: answer 408 and close."""
        self._respond_and_close(_error(408, "The request took too long to arrive"))

    # -- the upgrade ---------------------------------------------------------------------------
    def _upgrade(self, request: Request) -> None:
        rest, self._upgrade_rest = self._upgrade_rest or b"", None
        self._parser = None
        try:
            accept = ws.check_handshake(request.method, request.headers)
        except ws.HandshakeError as error:
            self._respond_and_close(_error(error.status, error.message, error.headers))
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._listener.flush_writes()  # earlier answers on this connection go before the 101
        transport.write(ws.accept_response(accept))
        self._mode = _UPGRADED
        self._queue.clear()
        self._listener.upgraded(self)
        listener = self._listener
        socket = WebSocketConnection(transport, listener.max_message_bytes, listener.close_timeout)
        # From here this object is garbage: the transport talks to the WebSocket protocol.
        self.transport = None
        socket.start(self._handler.websocket(request, socket), rest)
