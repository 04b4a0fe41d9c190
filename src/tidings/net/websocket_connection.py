"""A TCP connection after its upgrade: RFC 6455 frames in, the application's bytes out.

The HTTP protocol object hands the transport over to this one (``set_protocol``), so an idle
WebSocket holds only what it needs: the transport, a reader with no buffer, the handler and
two flags. It is also the ``Socket`` the application writes through.
"""

from __future__ import annotations

import asyncio

from tidings.net import websocket as ws
from tidings.net.http import SocketHandler

_PONG = ws.Opcode.PONG
_CLOSE = ws.Opcode.CLOSE
# A pong is not queued behind more unsent bytes than this: a peer that pings without reading
# must not grow our buffer. RFC 6455 section 5.5.3 lets a pong answer only the latest ping.
PONG_BACKLOG_BYTES = 64 * 1024


class WebSocketConnection(asyncio.Protocol):
    __slots__ = (
        "_close_timeout",
        "_close_timer",
        "_closing",
        "_handler",
        "_reader",
        "close_code",
        "transport",
    )

    def __init__(
        self, transport: asyncio.Transport, max_message_bytes: int, close_timeout: float
    ) -> None:
        self.transport = transport
        self._reader = ws.FrameReader(max_message_bytes)
        self._close_timeout = close_timeout
        self._closing = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._handler: SocketHandler | None = None
        self.close_code: int | None = None

    def start(self, handler: SocketHandler, rest: bytes) -> None:
        """Take over the transport; ``rest`` came in behind the upgrade request."""
        self._handler = handler
        self.transport.set_protocol(self)
        self.transport.resume_reading()
        if rest:
            self.data_received(rest)

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        handler = self._handler
        if handler is None:
            return
        try:
            received = self._reader.feed(data)
        except ws.ProtocolViolation as violation:
            self._fail(violation.code, violation.reason)
            return
        for item in received:
            if isinstance(item, ws.TextMessage):
                handler.message(item.text)
            elif isinstance(item, ws.Ping):
                transport = self.transport
                if not self._closing and transport.get_write_buffer_size() < PONG_BACKLOG_BYTES:
                    transport.write(ws.control_frame(_PONG, item.data))
            elif isinstance(item, ws.BinaryMessage):
                handler.binary(item.data)
            elif isinstance(item, ws.Close):
                self._peer_closed(item.code)

    def eof_received(self) -> bool | None:
        return None  # a half-closed WebSocket is over: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        handler, self._handler = self._handler, None
        if handler is not None:
            handler.closed()

    def _peer_closed(self, code: int | None) -> None:
        if not self._closing:  # echo the peer's close; if we started it, this completes it
            self._closing = True
            self.close_code = ws.NO_STATUS if code is None else code
            payload = ws.close_payload(code) if code is not None else b""
            self.transport.write(ws.control_frame(_CLOSE, payload))
        self.transport.close()  # the server ends the TCP connection first (RFC 6455 §7.1.1)

    def _fail(self, code: int, reason: str) -> None:
        """A protocol violation: say why in a close frame, then end the connection."""
        if not self._closing:
            self._closing = True
            self.close_code = code
            self.transport.write(ws.control_frame(_CLOSE, ws.close_payload(code, reason)))
        self.transport.close()

    # -- the Socket interface the application writes through ----------------------------------
    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self, code: int, reason: str = "") -> None:
        if self._closing:
            return
        self._closing = True
        self.close_code = code
        self.transport.write(ws.control_frame(_CLOSE, ws.close_payload(code, reason)))
        # A peer that stopped reading never answers; the bound frees the socket regardless.
        self._close_timer = asyncio.get_running_loop().call_later(self._close_timeout, self.abort)

    def abort(self) -> None:
        self.transport.abort()

    def buffer_size(self) -> int:
        return self.transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self._closing or self.transport.is_closing()

    def peer(self) -> str:
        address = self.transport.get_extra_info("peername")
        if isinstance(address, tuple) and len(address) >= 2:
            host, port = address[0], address[1]
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return ""

    def pause_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()
