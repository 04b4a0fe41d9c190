"""RFC 6455 conformance of ``ws://HOST:PORT/app/{key}``, end to end against a real process.

This is the specification the WebSocket layer must meet, whatever implements it. Most stories
speak raw bytes through ``Peer`` (a blocking socket with a masked-frame builder), because the
interesting inputs are the ones a client library refuses to send; the last ones use two clients
nobody here wrote, the Python ``websockets`` package and Node's ``ws``.

Every read waits for an event (a frame, or the server ending the TCP connection) for at most
``TIMEOUT`` seconds; nothing sleeps. Section numbers are RFC 6455's.

Covered elsewhere, so not here: 1009 for one frame over ``max_frame_bytes`` and binary frames
(test_websocket_bad_input.py), slow readers and idle clients (test_robustness.py). Invalid UTF-8
(1007) is here because no other module checks it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.raw_client import sdk_for
from tests.support.server import ROOT, TidingsServer

MakeServer = Callable[..., TidingsServer]

TIMEOUT = 5.0
QUERY = "protocol=7&client=js&version=8.4.0"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # section 1.3
MAX_FRAME_BYTES = 262144  # the [server] max_frame_bytes default, which shared_server keeps

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {0x0: "CONT", 0x1: "TEXT", 0x2: "BINARY", 0x8: "CLOSE", 0x9: "PING", 0xA: "PONG"}
RSV1, RSV2, RSV3 = 0b100, 0b010, 0b001

PUSHER_PING = b'{"event":"pusher:ping","data":{}}'


# -- frames -----------------------------------------------------------------------------------


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte key, repeated (section 5.3); one big-int XOR instead of a loop."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    """One client frame (section 5.2), masked with a fresh random key unless told otherwise."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + mask_payload(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def fragments(opcode: int, parts: list[bytes]) -> bytes:
    """One message split into ``parts``: the opcode first, then continuations, FIN on the last."""
    last = len(parts) - 1
    return b"".join(
        frame(opcode if i == 0 else OP_CONT, part, fin=i == last) for i, part in enumerate(parts)
    )


@dataclass(frozen=True)
class Frame:
    """A frame as the server sent it."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == OP_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def event(self) -> str | None:
        """The Pusher event name of a text frame; None for anything else."""
        if self.opcode != OP_TEXT:
            return None
        message = json.loads(self.payload)
        return str(message.get("event")) if isinstance(message, dict) else None

    def __str__(self) -> str:
        name = OPCODE_NAMES.get(self.opcode, f"opcode {self.opcode}")
        if self.opcode == OP_CLOSE:
            return f"CLOSE {self.close_code} {self.payload[2:]!r}"
        shown = self.payload if len(self.payload) <= 80 else self.payload[:77] + b"..."
        return f"{name}{'' if self.fin else ' (FIN=0)'} {shown!r}"


class Ended(Exception):
    """The server ended the TCP connection (EOF or reset)."""


# -- the opening handshake --------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    key: str | None  # the Sec-WebSocket-Key we sent
    rest: bytes  # bytes after the header block: the first frames, or an error body

    def tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for t in self.headers.get(name, "").split(",") if t.strip()}

    def __str__(self) -> str:
        shown = {k: v for k, v in self.headers.items() if k not in {"date", "content-length"}}
        return f"HTTP {self.status} {shown} {self.rest[:100]!r}"


def accept_for(key: str) -> str:
    """Section 4.2.2 step 5.4: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def handshake(
    server: TidingsServer,
    *,
    method: str = "GET",
    headers: Mapping[str, str | None] | None = None,
) -> tuple[socket.socket, Response]:
    """Send an upgrade request (``headers`` override the correct ones; None drops one) and read
    the response's status line and headers."""
    fields: dict[str, str] = {
        "Host": f"{server.host}:{server.port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": new_key(),
        "Sec-WebSocket-Version": "13",
    }
    for name, value in (headers or {}).items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    if method != "GET":
        fields["Content-Length"] = "0"
    request = f"{method} /app/{server.app.key}?{QUERY} HTTP/1.1\r\n"
    request += "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    try:
        sock.sendall(request.encode())
        received = bytearray()
        deadline = time.monotonic() + TIMEOUT
        while b"\r\n\r\n" not in received:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the server hung up mid-response: {bytes(received)!r}")
            received += chunk
    except BaseException:
        sock.close()
        raise
    head, rest = bytes(received).split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    return sock, Response(status, parsed, fields.get("Sec-WebSocket-Key"), rest)


def http_error(server: TidingsServer, **kwargs: Any) -> Response:
    """The response to an upgrade request that should be refused; the socket is closed."""
    sock, response = handshake(server, **kwargs)
    sock.close()
    return response


# -- a client by hand -------------------------------------------------------------------------


class Peer:
    """A WebSocket client over a blocking socket: exact bytes out, parsed server frames in."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.socket_id = ""
        self.seen: list[Frame] = []  # every frame received, for failure messages
        self._buffer = bytearray(buffered)

    @classmethod
    def open(cls, server: TidingsServer) -> Peer:
        """A correct handshake, then wait for ``pusher:connection_established``."""
        sock, response = handshake(server)
        peer = cls(sock, response.rest)
        try:
            assert response.status == 101, str(response)
            established = json.loads(peer.expect_event("pusher:connection_established").payload)
            peer.socket_id = json.loads(established["data"])["socket_id"]
        except BaseException:
            peer.close()
            raise
        return peer

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ping(self) -> None:
        """A Pusher-level ping in one frame: its pusher:pong proves the socket is alive."""
        self.send(frame(OP_TEXT, PUSHER_PING))

    def recv_frame(self, timeout: float = TIMEOUT) -> Frame:
        """The next server frame; Ended if the TCP connection ends first."""
        deadline = time.monotonic() + timeout
        while (parsed := self._parse()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no frame within {timeout}s; so far: {self.history()}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError as reset:
                raise Ended("reset") from reset
            if not chunk:
                raise Ended("EOF")
            self._buffer += chunk
        self.seen.append(parsed)
        # Section 5.1: a server MUST NOT mask any frames that it sends to the client.
        assert not parsed.masked, f"the server masked a frame: {parsed}"
        # Section 5.2: no extension is ever negotiated, so the RSV bits stay 0.
        assert parsed.rsv == 0, f"the server set RSV bits {parsed.rsv:03b}: {parsed}"
        return parsed

    def _parse(self) -> Frame | None:
        data = self._buffer
        if len(data) < 2:
            return None
        size, at = data[1] & 0x7F, 2
        if size == 126:
            if len(data) < 4:
                return None
            (size,), at = struct.unpack("!H", data[2:4]), 4
        elif size == 127:
            if len(data) < 10:
                return None
            (size,), at = struct.unpack("!Q", data[2:10]), 10
        masked = bool(data[1] & 0x80)
        mask = bytes(data[at : at + 4]) if masked else b""
        at += len(mask)
        if len(data) < at + size:
            return None
        first = data[0]
        payload = bytes(data[at : at + size])
        del data[: at + size]
        if masked:
            payload = mask_payload(payload, mask)
        return Frame(
            fin=bool(first & 0x80),
            rsv=(first >> 4) & 0b111,
            opcode=first & 0x0F,
            masked=masked,
            payload=payload,
        )

    def history(self) -> str:
        return "[" + ", ".join(str(f) for f in self.seen) + "]" if self.seen else "nothing"

    def expect_event(self, event: str, timeout: float = TIMEOUT) -> Frame:
        """Skip frames until a text frame carrying Pusher ``event``; fail on a close frame."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if received.opcode == OP_CLOSE:
                raise AssertionError(f"closed while waiting for {event}: {self.history()}")
            if received.event == event:
                return received

    def expect_control(self, opcode: int, timeout: float = TIMEOUT) -> Frame:
        """Skip data frames until a control frame with ``opcode``."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if received.opcode == opcode:
                return received
            if received.opcode == OP_CLOSE:
                raise AssertionError(f"closed while waiting for opcode {opcode}: {self.history()}")

    def close_frame(self, timeout: float = TIMEOUT) -> Frame:
        """Read until the server's close frame, failing if it hangs up without one or stays
        silent (the failure lists what it sent instead)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                received = self.recv_frame(max(0.0, deadline - time.monotonic()))
            except Ended as ended:
                raise AssertionError(
                    f"the server ended TCP ({ended}) without a close frame; "
                    f"it sent {self.history()}"
                ) from None
            except TimeoutError:
                raise AssertionError(
                    f"no close frame within {timeout}s; the server sent {self.history()}"
                ) from None
            if received.opcode == OP_CLOSE:
                return received

    def close_code(self, timeout: float = TIMEOUT) -> int | None:
        return self.close_frame(timeout).close_code

    def ended(self, timeout: float = TIMEOUT) -> list[Frame]:
        """Wait for the server to end the TCP connection; the frames it sent meanwhile."""
        deadline = time.monotonic() + timeout
        before = len(self.seen)
        while True:
            try:
                self.recv_frame(max(0.0, deadline - time.monotonic()))
            except Ended:
                return self.seen[before:]
            except TimeoutError:
                raise AssertionError(
                    f"the TCP connection was still open after {timeout}s; "
                    f"the server sent {self.history()}"
                ) from None

    def answer_close(self, received: Frame) -> None:
        """Section 5.5.1: echo the server's close frame (it may already have hung up)."""
        with contextlib.suppress(OSError):
            self.send(frame(OP_CLOSE, received.payload[:2]))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fail_the_connection(peer: Peer, code: int) -> None:
    """Section 7.1.7: the server sends a close frame with ``code`` and then ends TCP (here after
    our answering close, as a well-behaved client sends one)."""
    closing = peer.close_frame()
    assert closing.close_code == code, f"expected close {code}; the server sent {peer.history()}"
    peer.answer_close(closing)
    peer.ended()


@pytest.fixture
def peer(shared_server: TidingsServer) -> Iterator[Peer]:
    """An open Pusher connection by hand that has seen pusher:connection_established."""
    with Peer.open(shared_server) as opened:
        yield opened


# -- section 4: the opening handshake ---------------------------------------------------------


def test_correct_handshake_is_101_with_the_right_accept(shared_server: TidingsServer) -> None:
    """Section 4.2.2: a valid request gets 101, Upgrade: websocket, Connection: Upgrade and
    Sec-WebSocket-Accept = base64(SHA-1(key + GUID)); then the server talks in frames."""
    sock, response = handshake(shared_server)
    with Peer(sock, response.rest) as peer:
        assert response.status == 101, str(response)
        assert "websocket" in response.tokens("upgrade")
        assert "upgrade" in response.tokens("connection")
        assert response.key is not None
        assert response.headers.get("sec-websocket-accept") == accept_for(response.key)
        # Section 9.1: no extension the client did not ask for.
        assert "sec-websocket-extensions" not in response.headers
        first = peer.recv_frame()
        assert first.opcode == OP_TEXT and first.fin, first
        assert first.event == "pusher:connection_established"


def test_offered_compression_is_declined(shared_server: TidingsServer) -> None:
    """Section 9.1: the server may decline an offered extension by not naming it. Tidings frames
    each broadcast once for every subscriber, so permessage-deflate stays off."""
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    sock, response = handshake(shared_server, headers=offer)
    with Peer(sock, response.rest) as peer:
        assert response.status == 101, str(response)
        assert "sec-websocket-extensions" not in response.headers
        peer.expect_event("pusher:connection_established")
        peer.ping()
        peer.expect_event("pusher:pong")


@pytest.mark.parametrize("version", ["7", "8", "14"])
def test_unsupported_version_is_426_naming_13(shared_server: TidingsServer, version: str) -> None:
    """Section 4.4: a version the server does not speak is refused with an HTTP error (426
    Upgrade Required) and a Sec-WebSocket-Version header listing the one it does: 13."""
    response = http_error(shared_server, headers={"Sec-WebSocket-Version": version})
    assert response.status == 426, str(response)
    assert "13" in response.tokens("sec-websocket-version"), str(response)


BAD_KEYS: dict[str, str | None] = {
    "no key": None,
    "empty key": "",
    "key not base64": "this is not base64!!!!",
    "key of 15 bytes": base64.b64encode(b"x" * 15).decode(),
    "key of 17 bytes": base64.b64encode(b"x" * 17).decode(),
    # 16 bytes only once the stray character is thrown away, as a lenient decoder does.
    "key with a stray character": "dGhlIHNh*bXBsZSBub25jZQ==",
}


@pytest.mark.parametrize("case", BAD_KEYS, ids=list(BAD_KEYS))
def test_missing_or_invalid_key_is_400(shared_server: TidingsServer, case: str) -> None:
    """Sections 4.1 and 4.2.1: Sec-WebSocket-Key MUST be base64 of 16 bytes; a handshake
    without one is answered 400 Bad Request."""
    response = http_error(shared_server, headers={"Sec-WebSocket-Key": BAD_KEYS[case]})
    assert response.status == 400, str(response)


NOT_UPGRADES: dict[str, dict[str, str | None]] = {
    "no Upgrade header": {"Upgrade": None},
    "Upgrade to another protocol": {"Upgrade": "h2c"},
    "Connection without the upgrade token": {"Connection": "keep-alive"},
}


@pytest.mark.parametrize("case", NOT_UPGRADES, ids=list(NOT_UPGRADES))
def test_request_that_is_not_a_websocket_upgrade_is_refused(
    shared_server: TidingsServer, case: str
) -> None:
    """Section 4.2.1: without Upgrade: websocket and Connection: Upgrade there is no handshake;
    the answer is an HTTP error (400 Bad Request, or 426 Upgrade Required), never 101."""
    response = http_error(shared_server, headers=NOT_UPGRADES[case])
    assert response.status in {400, 426}, str(response)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_non_get_upgrade_is_an_http_error(shared_server: TidingsServer, method: str) -> None:
    """Section 4.1: the opening handshake MUST be a GET; anything else is no upgrade."""
    response = http_error(shared_server, method=method)
    assert response.status >= 400, str(response)


# -- section 5.2: framing ---------------------------------------------------------------------


@pytest.mark.parametrize("padding", [100, 65_000, 65_536, 200_000])
def test_extended_payload_lengths_are_read(peer: Peer, padding: int) -> None:
    """Section 5.2: payload lengths of 126..65535 come as 16 bits, longer ones as 64 bits."""
    padded = PUSHER_PING[:-1] + b" " * padding + b"}"
    assert len(padded) < MAX_FRAME_BYTES
    peer.send(frame(OP_TEXT, padded))
    peer.expect_event("pusher:pong")


def test_many_frames_in_one_write_are_all_answered(peer: Peer) -> None:
    """Section 5.2: frames follow each other on the stream; a read holding five of them
    yields five messages (and five pongs)."""
    peer.send(b"".join(frame(OP_TEXT, PUSHER_PING) for _ in range(5)))
    for _ in range(5):
        peer.expect_event("pusher:pong")
    peer.ping()  # and nothing was left half-parsed
    peer.expect_event("pusher:pong")


def test_one_frame_across_many_writes_is_reassembled(peer: Peer) -> None:
    """Section 5.2: a frame may arrive a byte at a time; the reader resumes where it was."""
    peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in frame(OP_TEXT, PUSHER_PING):
        peer.send(bytes([byte]))
    peer.expect_event("pusher:pong")


# -- section 5.4: fragmentation ---------------------------------------------------------------


SPLITS: dict[str, list[bytes]] = {
    "three fragments": [PUSHER_PING[:10], PUSHER_PING[10:20], PUSHER_PING[20:]],
    "a byte per fragment": [bytes([b]) for b in PUSHER_PING],
    "empty first and last fragments": [b"", PUSHER_PING, b""],
}


@pytest.mark.parametrize("split", SPLITS, ids=list(SPLITS))
def test_fragmented_message_is_reassembled(peer: Peer, split: str) -> None:
    """Section 5.4: TEXT with FIN=0, continuations, FIN=1 on the last: one message, which the
    server understands (its pusher:pong proves it)."""
    peer.send(fragments(OP_TEXT, SPLITS[split]))
    peer.expect_event("pusher:pong")


def test_character_split_between_fragments_is_valid_utf8(peer: Peer) -> None:
    """Sections 5.6 and 8.1: UTF-8 is valid or not for the whole message; a character whose
    bytes straddle two fragments is fine."""
    message = '{"event":"pusher:ping","data":{"weather":"\u2603"}}'.encode()
    middle = message.index("\u2603".encode()) + 1  # inside the three bytes of the snowman
    peer.send(fragments(OP_TEXT, [message[:middle], message[middle:]]))
    peer.expect_event("pusher:pong")


def test_ping_between_fragments_is_answered_and_the_message_completes(peer: Peer) -> None:
    """Section 5.4: control frames MAY be injected in the middle of a fragmented message; the
    server answers the ping (5.5.2) and still assembles the message around it."""
    peer.send(frame(OP_TEXT, PUSHER_PING[:15], fin=False))
    peer.send(frame(OP_PING, b"between fragments"))
    pong = peer.expect_control(OP_PONG)
    assert pong.payload == b"between fragments"
    peer.send(frame(OP_CONT, PUSHER_PING[15:]))
    peer.expect_event("pusher:pong")


def test_fragments_totalling_over_max_frame_bytes_close_with_1009(peer: Peer) -> None:
    """Sections 7.4.1 and 10.4: the size limit holds for the reassembled message, not only for
    each frame, or fragments would buffer without bound."""
    part = b" " * 100_000
    peer.send(fragments(OP_TEXT, [PUSHER_PING[:-1] + part, part, part + b"}"]))
    fail_the_connection(peer, 1009)


# -- section 5.5: control frames --------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"tidings", bytes(range(125))], ids=["0", "7", "125"])
def test_ping_payload_is_echoed_in_the_pong(peer: Peer, payload: bytes) -> None:
    """Section 5.5.3: a pong answers a ping with identical application data."""
    peer.send(frame(OP_PING, payload))
    pong = peer.expect_control(OP_PONG)
    assert pong.payload == payload
    assert pong.fin


def test_unsolicited_pong_is_ignored(peer: Peer) -> None:
    """Section 5.5.3: a pong may be sent unsolicited (a heartbeat); no response is expected."""
    peer.send(frame(OP_PONG, b"heartbeat"))
    peer.ping()
    peer.expect_event("pusher:pong")
    assert [f.event for f in peer.seen] == [
        "pusher:connection_established",
        "pusher:pong",
    ], peer.history()


# -- failing the connection with 1002 ---------------------------------------------------------


PROTOCOL_ERRORS: dict[str, bytes] = {
    # Section 5.1: the server MUST close on a frame that is not masked.
    "unmasked client frame": frame(OP_TEXT, PUSHER_PING, masked=False),
    # Section 5.2: RSV bits MUST be 0 unless an extension was negotiated (none ever is).
    "RSV1 bit set": frame(OP_TEXT, PUSHER_PING, rsv=RSV1),
    "RSV2 bit set": frame(OP_TEXT, PUSHER_PING, rsv=RSV2),
    "RSV3 bit set": frame(OP_TEXT, PUSHER_PING, rsv=RSV3),
    # Section 5.2: opcodes 3-7 and 0xB-0xF are reserved.
    "opcode 3": frame(0x3, PUSHER_PING),
    "opcode 11": frame(0xB, b""),
    # Section 5.4: continuations only continue a started message, and one message at a time.
    "continuation without start": frame(OP_CONT, PUSHER_PING),
    "new TEXT while a fragmented message is open": (
        frame(OP_TEXT, PUSHER_PING[:10], fin=False) + frame(OP_TEXT, PUSHER_PING)
    ),
    # Section 5.5: control frames are never fragmented and carry at most 125 bytes.
    "control frame with FIN=0": frame(OP_PING, b"half", fin=False),
    "ping with a 126-byte payload": frame(OP_PING, b"p" * 126),
    # Section 5.5.1: a close body, if any, starts with a 2-byte status code.
    "close with a 1-byte payload": frame(OP_CLOSE, b"\x03"),
}


@pytest.mark.parametrize("case", PROTOCOL_ERRORS, ids=list(PROTOCOL_ERRORS))
def test_protocol_violation_fails_the_connection_with_1002(peer: Peer, case: str) -> None:
    """Section 7.4.1: 1002 for a protocol error, after which the server ends the connection."""
    peer.send(PROTOCOL_ERRORS[case])
    fail_the_connection(peer, 1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_code_is_answered_with_1002(peer: Peer, code: int) -> None:
    """Sections 7.4.1 and 7.4.2: codes below 1000, the reserved 1004, 1005, 1006 and 1015
    (which MUST NOT be sent), unassigned ones below 3000 and anything above 4999 are invalid
    in a close frame: a protocol error."""
    peer.send(frame(OP_CLOSE, close_payload(code)))
    fail_the_connection(peer, 1002)


INVALID_UTF8: dict[str, bytes] = {
    "text message": frame(OP_TEXT, b'{"event":"pusher:ping","data":"\xff\xfe"}'),
    "fragmented text message": fragments(OP_TEXT, [b'{"event":"pusher:ping","data":"\xe2', b'"}']),
    "close reason": frame(OP_CLOSE, close_payload(1000) + b"bye \xc3\x28"),
}


@pytest.mark.parametrize("case", INVALID_UTF8, ids=list(INVALID_UTF8))
def test_invalid_utf8_fails_the_connection_with_1007(peer: Peer, case: str) -> None:
    """Sections 8.1 and 5.5.1: text messages and close reasons MUST be UTF-8; otherwise 1007."""
    peer.send(INVALID_UTF8[case])
    fail_the_connection(peer, 1007)


# -- section 7: the closing handshake ---------------------------------------------------------


def test_client_close_1000_is_echoed_and_then_the_tcp_connection_ends(peer: Peer) -> None:
    """Sections 5.5.1 and 7.1.1: a close frame is answered with a close frame (here 1000) and the
    server, having both sent and received one, ends the TCP connection first."""
    peer.send(frame(OP_CLOSE, close_payload(1000, "bye")))
    echoed = peer.close_frame()
    assert echoed.close_code == 1000
    assert peer.ended() == [], "nothing may follow a close frame (section 5.5.1)"


@pytest.mark.parametrize("code", [3000, 4000, 4999])
def test_close_with_a_registered_or_private_code_is_accepted(peer: Peer, code: int) -> None:
    """Section 7.4.2: 3000-3999 (registered) and 4000-4999 (private use) are valid codes; the
    answer is a close frame, echoing the code or a plain 1000, never a protocol error."""
    peer.send(frame(OP_CLOSE, close_payload(code, "going")))
    assert peer.close_code() in {code, 1000}, peer.history()
    assert peer.ended() == []


def test_close_without_a_status_code_is_accepted(peer: Peer) -> None:
    """Section 5.5.1: a close frame may have no body at all; it is answered all the same."""
    peer.send(frame(OP_CLOSE))
    assert peer.close_code() in {None, 1000}, peer.history()
    assert peer.ended() == []


def test_half_closed_peer_does_not_crash_the_server(make_server: MakeServer) -> None:
    """Sections 7.1.1 and 7.1.7: a client that stops sending (TCP half-close) after a ping gets
    the pong or not, then the server ends the connection; the server lives on."""
    server = make_server()
    with Peer.open(server) as half_closed:
        half_closed.ping()
        half_closed.sock.shutdown(socket.SHUT_WR)
        leftovers = half_closed.ended()
        assert all(f.opcode == OP_CLOSE or f.event == "pusher:pong" for f in leftovers), (
            half_closed.history()
        )
    with Peer.open(server) as fresh:
        fresh.ping()
        fresh.expect_event("pusher:pong")
    assert "Traceback" not in server.log(), server.log()


# -- clients nobody here wrote ----------------------------------------------------------------


def endpoint(server: TidingsServer) -> str:
    return f"ws://{server.host}:{server.port}/app/{server.app.key}?{QUERY}"


async def test_python_websockets_client_talks_to_the_server(shared_server: TidingsServer) -> None:
    """The ``websockets`` package checks the handshake itself (section 4.1), sends a Pusher ping,
    a WebSocket ping whose pong must match (5.5.3), a message it fragments from an iterable
    (5.4), and finishes with a clean closing handshake (7.1.2): code 1000."""
    async with connect(
        endpoint(shared_server), open_timeout=TIMEOUT, close_timeout=TIMEOUT, compression=None
    ) as ws:
        async with asyncio.timeout(TIMEOUT):
            established = json.loads(await ws.recv())
            assert established["event"] == "pusher:connection_established"

            await ws.send(PUSHER_PING.decode())
            assert json.loads(await ws.recv())["event"] == "pusher:pong"

            pong_waiter = await ws.ping(b"from websockets")
            await pong_waiter  # websockets matches the pong's payload to the ping's

            await ws.send(['{"event":', '"pusher:ping",', '"data":{}}'])  # three frames
            assert json.loads(await ws.recv())["event"] == "pusher:pong"

            await ws.close(1000, "done")
    assert ws.close_code == 1000
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000


class NodeWs:
    """tests/support/ws_client.js: Node's ``ws`` package, commanded and reporting in JSON lines."""

    SCRIPT = ROOT / "tests" / "support" / "ws_client.js"

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, url: str) -> NodeWs:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(cls.SCRIPT),
            url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            limit=1 << 20,
        )
        return cls(process)

    async def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise AssertionError(f"ws_client.js exited; it reported {self.events}")
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    async def expect(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip reports until one of type ``kind``; fail on a close that was not asked for."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next()
                if event["type"] == kind:
                    return event
                if event["type"] in {"close", "error", "unexpected-response"}:
                    raise AssertionError(f"wanted {kind}; ws reported {self.events}")

    async def message(self, pusher_event: str) -> dict[str, Any]:
        """The next text message carrying ``pusher_event``, parsed."""
        while True:
            report = await self.expect("message")
            message: dict[str, Any] = json.loads(report["data"])
            if message.get("event") == pusher_event:
                return message

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
async def test_node_ws_client_talks_to_the_server(shared_server: TidingsServer) -> None:
    """Node's ``ws`` connects (section 4.1), gets its ping payload back in the pong (5.5.3),
    sends a 200 KB message (one frame under max_frame_bytes, so no 1009) that the server turns
    down at the Pusher level while the socket stays open, then closes cleanly (7.1.2)."""
    client = await NodeWs.start(endpoint(shared_server))
    try:
        await client.expect("open")
        established = await client.message("pusher:connection_established")
        socket_id = json.loads(established["data"])["socket_id"]

        payload = bytes(range(256))[:100]
        await client.command(op="ping", data=base64.b64encode(payload).decode())
        pong = await client.expect("pong")
        assert base64.b64decode(pong["data"]) == payload

        channel = "private-rfc6455-node"
        auth = sdk_for(shared_server).authenticate(channel, socket_id)
        subscribe = {"event": "pusher:subscribe", "data": {"channel": channel, **auth}}
        await client.command(op="send", text=json.dumps(subscribe))
        await client.message("pusher_internal:subscription_succeeded")

        big = json.dumps({"event": "client-big", "channel": channel, "data": "x" * 200_000})
        assert 200_000 < len(big) < MAX_FRAME_BYTES
        await client.command(op="send", text=big)
        error = await client.message("pusher:error")
        assert error["data"]["code"] == 4301, error  # too big for a client event, not for a frame
        await client.command(op="send", text=PUSHER_PING.decode())
        await client.message("pusher:pong")

        await client.command(op="close", code=1000, reason="done")
        closed = await client.expect("close")
        assert closed["code"] == 1000, client.events
        assert (await asyncio.wait_for(client.process.wait(), TIMEOUT)) == 0
    finally:
        await client.stop()
