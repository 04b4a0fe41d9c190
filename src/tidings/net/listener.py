"""The listening socket: accepts connections, bounds slow and idle HTTP clients, drains.

One periodic sweep (a timer, not a task per connection) closes HTTP connections that sat idle
past the keep-alive timeout and answers 408 to requests that take too long to arrive, such as
headers sent a byte at a time. Upgraded WebSockets leave the sweep: the application's own
keep-alive looks after them.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from tidings.net.client_address import TrustedProxies
from tidings.net.connection import HttpConnection
from tidings.net.http import Handler


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 16 * 1024  # request line and headers together
    max_body_bytes: int = 10 * 1024 * 1024
    max_message_bytes: int = 256 * 1024  # one WebSocket message
    request_timeout: float = 10.0  # from a request's first byte to its last
    keepalive_timeout: float = 75.0  # an idle HTTP connection between requests
    close_timeout: float = 3.0  # a WebSocket closing handshake


class Listener:
    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        trusted_proxies: TrustedProxies | None = None,
        proxy_protocol: bool = False,
    ) -> None:
        self.handler = handler
        # Only these peers may say who the client is; with proxy_protocol they must, first.
        self.trusted_proxies = trusted_proxies or TrustedProxies(())
        self.proxy_protocol = proxy_protocol
        self.max_header_bytes = limits.max_header_bytes
        self.max_body_bytes = limits.max_body_bytes
        self.max_message_bytes = limits.max_message_bytes
        self.close_timeout = limits.close_timeout
        self._limits = limits
        self._loop = asyncio.get_running_loop()
        self.now = self._loop.time
        self._http: set[HttpConnection] = set()  # not upgraded (yet)
        self._requests: set[asyncio.Future[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._writes: list[tuple[asyncio.Transport, bytes, bool]] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self.draining = False
        self.tls = False

    async def start(self, sock: socket.socket, tls: ssl.SSLContext | None = None) -> None:
        """Serve ``sock``; with ``tls``, every connection on it (HTTPS and WSS alike)."""
        self.tls = tls is not None
        self._server = await self._loop.create_server(
            lambda: HttpConnection(self),
            sock=sock,
            backlog=2048,
            ssl=tls,
            # A client that never finishes its TLS handshake is bounded like a slow request: the
            # sweep cannot see it, a connection reaches us only once its handshake is done.
            ssl_handshake_timeout=self._limits.request_timeout if tls else None,
        )
        self._schedule_sweep()

    # -- bookkeeping, called by connections ----------------------------------------------------
    def opened(self, conn: HttpConnection) -> None:
        self._http.add(conn)

    def upgraded(self, conn: HttpConnection) -> None:
        self._http.discard(conn)

    def closed(self, conn: HttpConnection) -> None:
        self._http.discard(conn)

    def track_request(self, future: asyncio.Future[None]) -> None:
        self._requests.add(future)
        future.add_done_callback(self._request_done)

    def _request_done(self, future: asyncio.Future[Any]) -> None:
        self._requests.discard(future)
        if not future.cancelled() and future.exception() is not None:
            self._loop.call_exception_handler(
                {"message": "HTTP request task failed", "exception": future.exception()}
            )

    # -- writing ------------------------------------------------------------------------------
    def write_soon(self, transport: asyncio.Transport, data: bytes, then_close: bool) -> None:
        """Write at the end of this loop iteration, together with the other answers of it.

        Back-to-back writes wake a sleeping client once; a write after each request, with a
        request's work in between, wakes it every time, and on a VM each wake-up of an idle
        CPU is an expensive trip through the hypervisor, paid inside our write() call."""
        if not self._writes:
            self._loop.call_soon(self.flush_writes)
        self._writes.append((transport, data, then_close))

    def flush_writes(self) -> None:
        """Write everything pending now (the end of the iteration, or before an upgrade)."""
        writes, self._writes = self._writes, []
        for transport, data, then_close in writes:
            if not transport.is_closing():
                if data:
                    transport.write(data)
                if then_close:
                    transport.close()

    # -- the sweep ----------------------------------------------------------------------------
    def _schedule_sweep(self) -> None:
        interval = max(0.1, min(1.0, self._limits.request_timeout / 4))
        self._sweeper = self._loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        now = self.now()
        request_deadline = now - self._limits.request_timeout
        idle_deadline = now - self._limits.keepalive_timeout
        for conn in list(self._http):
            started = conn.request_started
            if started is not None:
                if started < request_deadline:
                    conn.abort_slow_request()
            elif conn.idle_since < idle_deadline:
                conn.close_if_idle()
        self._schedule_sweep()

    # -- shutdown -----------------------------------------------------------------------------
    def stop_accepting(self) -> None:
        """Close the listening socket; open connections carry on."""
        self.draining = True
        if self._server is not None:
            self._server.close()

    async def finish_requests(self, timeout: float) -> None:
        """Let in-flight HTTP requests answer (with ``Connection: close``), then close the rest."""
        if self._requests:
            await asyncio.wait(set(self._requests), timeout=timeout)
        for conn in list(self._http):
            conn.close_if_idle()
        if self._sweeper is not None:
            self._sweeper.cancel()
