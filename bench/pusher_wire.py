"""The bytes the load generator sends and reads: WS handshake and frames, Pusher messages, and
signed HTTP API requests with their responses. Pure functions and small parsers, no I/O."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson

from tidings.protocol.signatures import sign

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9


# -- WebSocket -----------------------------------------------------------------------------------
def handshake_request(host: str, port: int, key: str) -> bytes:
    nonce = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /app/{key}?protocol=7&client=tidings-bench&version=0.1 HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def split_handshake(buffer: bytes) -> tuple[bool, bytes] | None:
    """(upgraded?, bytes after the response head), or None while the head is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line = buffer[: buffer.find(b"\r\n")]
    return b" 101 " in status_line + b" ", buffer[end + 4 :]


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A masked client frame. The mask is zero: legal, and XOR with it is a no-op."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + b"\0\0\0\0" + payload


class FrameReader:
    """Incremental parser of unmasked server frames (the server never masks)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        frames: list[tuple[int, bytes]] = []
        at, size = 0, len(buffer)
        while size - at >= 2:
            opcode = buffer[at] & 0x0F
            length = buffer[at + 1] & 0x7F
            start = at + 2
            if length == 126:
                if size - at < 4:
                    break
                length = (buffer[at + 2] << 8) | buffer[at + 3]
                start = at + 4
            elif length == 127:
                if size - at < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, at + 2)
                start = at + 10
            end = start + length
            if end > size:
                break
            frames.append((opcode, buffer[start:end]))
            at = end
        self._buffer = buffer[at:]
        return frames

    def rest(self) -> bytes:
        """Unparsed bytes, for handing the stream over to a cheaper counter."""
        rest, self._buffer = self._buffer, b""
        return rest


class MarkerCounter:
    """Counts a byte marker across chunk boundaries at C speed (bytes.count), without framing."""

    __slots__ = ("_tail", "marker")

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self._tail = b""

    def feed(self, data: bytes) -> int:
        marker = self.marker
        keep = len(marker) - 1
        count = data.count(marker)
        if self._tail:
            count += (self._tail + data[:keep]).count(marker)
        self._tail = data[-keep:] if len(data) >= keep else (self._tail + data)[-keep:]
        return count


# -- Pusher messages -----------------------------------------------------------------------------
def event_marker(name: str) -> bytes:
    """What identifies one delivered event in the byte stream, whatever the key order."""
    return b'"event":"' + name.encode() + b'"'


def subscribe(channel: str, auth: str | None = None, channel_data: str | None = None) -> bytes:
    data: dict[str, str] = {"channel": channel}
    if auth is not None:
        data["auth"] = auth
    if channel_data is not None:
        data["channel_data"] = channel_data
    return client_frame(orjson.dumps({"event": "pusher:subscribe", "data": data}))


def presence_auth(key: str, secret: str, socket_id: str, channel: str, channel_data: str) -> str:
    return f"{key}:{sign(secret, f'{socket_id}:{channel}:{channel_data}')}"


def inner_data(message: dict[str, object]) -> dict[str, object]:
    """``data`` of a server message: a JSON string for events, an object for some errors."""
    data = message.get("data")
    if isinstance(data, str | bytes):
        loaded = orjson.loads(data) if data else {}
        return loaded if isinstance(loaded, dict) else {}
    return data if isinstance(data, dict) else {}


def event_data(send_ns: int, seq: int, size: int) -> str:
    """The payload of a triggered event: send time (perf_counter_ns) and sequence, padded."""
    head = f'{{"t":{send_ns},"s":{seq},"p":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


def indexed_data(index: int, size: int) -> str:
    """The payload of a pre-signed trigger (bench/wrk.py): no send time, which the signed body
    cannot carry, but the request's index in its pool, padded; wrk logs when it sends it."""
    head = f'{{"i":{index},"p":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


# -- HTTP API ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Credentials:
    app_id: str = "app-id"
    key: str = "app-key"
    secret: str = "app-secret"  # the benchmark app's fixed credential, as in peers/README.md


def signed_post(
    host: str, port: int, creds: Credentials, path: str, body: bytes, now: float | None = None
) -> bytes:
    """A complete keep-alive POST request, signed as the Pusher server SDKs sign it."""
    params = {
        "auth_key": creds.key,
        "auth_timestamp": str(int(time.time() if now is None else now)),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    query = "&".join(f"{k}={params[k]}" for k in sorted(params))
    signature = sign(creds.secret, f"POST\n{path}\n{query}")
    target = f"{path}?{query}&auth_signature={quote(signature)}"
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def events_path(creds: Credentials) -> str:
    return f"/apps/{creds.app_id}/events"


def batch_path(creds: Credentials) -> str:
    return f"/apps/{creds.app_id}/batch_events"


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes
    close: bool


@dataclass(slots=True)
class ResponseReader:
    """Incremental HTTP/1.1 response parser: Content-Length or chunked bodies."""

    _buffer: bytes = b""
    _head: tuple[int, bool, int, bool] | None = field(default=None)

    def feed(self, data: bytes) -> list[HttpResponse]:
        self._buffer += data
        done: list[HttpResponse] = []
        while True:
            if self._head is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return done
                self._head = _parse_head(self._buffer[:end])
                self._buffer = self._buffer[end + 4 :]
            status, close, length, chunked = self._head
            if chunked:
                parsed = _dechunk(self._buffer)
                if parsed is None:
                    return done
                body, used = parsed
            else:
                if len(self._buffer) < length:
                    return done
                body, used = self._buffer[:length], length
            self._buffer = self._buffer[used:]
            self._head = None
            done.append(HttpResponse(status, body, close))


def _parse_head(head: bytes) -> tuple[int, bool, int, bool]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    close, length, chunked = False, 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value == b"close"
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
    return status, close, length, chunked


def _dechunk(buffer: bytes) -> tuple[bytes, int] | None:
    parts, at = [], 0
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(buffer[at:line_end].split(b";")[0], 16)
        start = line_end + 2
        if len(buffer) < start + size + 2:
            return None
        if size == 0:
            return b"".join(parts), start + 2
        parts.append(buffer[start : start + size])
        at = start + size + 2
