"""The load generator reads frames and responses in arbitrary chunks, and signs requests the way
the server checks them: counted deliveries and signatures must be right before any figure is."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, unquote

import orjson
import pytest

from bench import pusher_wire as wire
from tidings.protocol import messages
from tidings.protocol.errors import ApiError
from tidings.protocol.framing import text_frame
from tidings.protocol.signatures import channel_auth_valid, verify_api_request


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def server_stream() -> tuple[bytes, list[bytes]]:
    payloads = [
        messages.event("bench", "fanout", wire.event_data(123, 1, 100)),
        messages.event("bench", "fanout", "y" * 300),  # 16-bit length
        messages.event("bench", "fanout", "z" * 70_000),  # 64-bit length
        messages.subscription_succeeded("fanout"),
    ]
    return b"".join(text_frame(p) for p in payloads), payloads


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1500, 1 << 20])
def test_frames_split_anywhere_come_out_whole(size: int) -> None:
    stream, payloads = server_stream()
    reader = wire.FrameReader()
    frames = [frame for chunk in chunks(stream, size) for frame in reader.feed(chunk)]
    assert frames == [(wire.OP_TEXT, p) for p in payloads]
    assert reader.rest() == b""


@pytest.mark.parametrize("size", [1, 3, 14, 15, 16, 100, 1 << 20])
def test_marker_counter_finds_events_split_across_reads(size: int) -> None:
    stream, _ = server_stream()
    counter = wire.MarkerCounter(wire.event_marker("bench"))
    assert sum(counter.feed(chunk) for chunk in chunks(stream, size)) == 3


def test_marker_inside_event_data_is_not_counted() -> None:
    # A payload quoting the marker arrives JSON-escaped inside the data string.
    payload = messages.event("other", "c", orjson.dumps({"event": "bench"}).decode())
    assert wire.MarkerCounter(wire.event_marker("bench")).feed(text_frame(payload)) == 0


def test_handshake_head_is_split_from_the_first_frame() -> None:
    first = text_frame(messages.connection_established("1.2", 120))
    response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" + first
    assert wire.split_handshake(response[:20]) is None
    assert wire.split_handshake(response) == (True, first)
    refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    assert wire.split_handshake(refused) == (False, b"")


def test_client_frames_are_masked_and_sized() -> None:
    small, medium = wire.client_frame(b"x" * 10), wire.client_frame(b"x" * 200)
    assert small[:2] == bytes([0x81, 0x80 | 10]) and small[-10:] == b"x" * 10
    assert medium[1] == 0x80 | 126 and int.from_bytes(medium[2:4]) == 200


def test_responses_with_length_chunked_and_close_parse_in_pieces() -> None:
    stream = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"ok"\r\n6\r\n:true}\r\n0\r\n\r\n'
        b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 4\r\n\r\nnope"
    )
    reader = wire.ResponseReader()
    responses = [r for chunk in chunks(stream, 5) for r in reader.feed(chunk)]
    assert [(r.status, r.body, r.close) for r in responses] == [
        (200, b"{}", False),
        (200, b'{"ok":true}', False),
        (401, b"nope", True),
    ]


def test_signed_requests_pass_the_servers_own_check() -> None:
    creds = wire.Credentials()
    body = orjson.dumps({"name": "bench", "channel": "c", "data": "{}"})
    request = wire.signed_post("127.0.0.1", 1, creds, wire.events_path(creds), body)
    head, _, sent_body = request.partition(b"\r\n\r\n")
    target = head.split(b" ")[1].decode()
    path, _, query = target.partition("?")
    params = [(k, unquote(v)) for k, v in parse_qsl(query)]
    check = dict(key=creds.key, method="POST", path=path, params=params, body=sent_body)
    verify_api_request(secret=creds.secret, now=time.time(), **check)
    with pytest.raises(ApiError):
        verify_api_request(secret="not-the-secret", now=time.time(), **check)


def test_presence_auth_is_what_the_server_expects() -> None:
    data = orjson.dumps({"user_id": "u1", "user_info": {}}).decode()
    auth = wire.presence_auth("app-key", "app-secret", "1.2", "presence-x", data)
    assert channel_auth_valid("app-key", "app-secret", "1.2", "presence-x", auth, data)


def test_event_data_carries_send_time_and_sequence_at_the_asked_size() -> None:
    data = wire.event_data(987654321, 42, 100)
    assert len(data) == 100
    assert orjson.loads(data)["t"] == 987654321 and orjson.loads(data)["s"] == 42
