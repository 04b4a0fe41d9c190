"""The sans-I/O WebSocket layer, driven byte by byte and checked against the websockets package."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from typing import Any

import pytest

from tidings.net import websocket as ws
from tidings.net.websocket import (
    BinaryMessage,
    Close,
    FrameReader,
    HandshakeError,
    Opcode,
    Ping,
    Pong,
    ProtocolViolation,
    Received,
    TextMessage,
    accept_response,
    check_handshake,
    close_payload,
    control_frame,
)

wsframes = pytest.importorskip("websockets.frames")

RNG = random.Random(6455)
MAX = 1024


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    form: int | None = None,
    announce: int | None = None,
) -> bytes:
    """A masked client frame; ``form`` forces a 7/16/64-bit length, ``announce`` a false one."""
    length = len(payload) if announce is None else announce
    if form is None:
        form = 7 if length < 126 else 16 if length < 1 << 16 else 64
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if masked else 0
    if form == 7:
        head += bytes([bit | length])
    elif form == 16:
        head += bytes([bit | 126]) + length.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + length.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = RNG.randbytes(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def text(s: str, *, rsv: int = 0, form: int | None = None) -> bytes:
    return frame(1, s.encode(), rsv=rsv, form=form)


def theirs(opcode: object, data: bytes, fin: bool = True) -> bytes:
    """A client frame serialized by the websockets package, not by us."""
    return bytes(wsframes.Frame(opcode, data, fin=fin).serialize(mask=True))


def violation(reader: FrameReader, data: bytes, code: int) -> ProtocolViolation:
    with pytest.raises(ProtocolViolation) as info:
        reader.feed(data)
    assert info.value.code == code
    assert reader.feed(text("after")) == []  # a failed reader stays silent
    return info.value


def fails(data: bytes, code: int, max_bytes: int = MAX) -> ProtocolViolation:
    return violation(FrameReader(max_bytes), data, code)


def chunks(data: bytes, sizes: Iterator[int]) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        step = next(sizes)
        yield data[pos : pos + step]
        pos += step


def feed_all(reader: FrameReader, parts: Iterator[bytes]) -> list[Received]:
    return [item for part in parts for item in reader.feed(part)]


# --- handshake ---------------------------------------------------------------------------------

GOOD = {
    "host": "example.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
}


def refused(headers: dict[str, str], method: str = "GET") -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        check_handshake(method, headers)
    return info.value


def test_rfc_example_key() -> None:
    assert check_handshake("GET", GOOD) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_matches_websockets_for_random_keys() -> None:
    utils = pytest.importorskip("websockets.utils")
    for _ in range(20):
        key = base64.b64encode(RNG.randbytes(16)).decode()
        assert check_handshake("GET", {**GOOD, "sec-websocket-key": key}) == utils.accept_key(key)


def test_accept_response_bytes() -> None:
    assert accept_response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


@pytest.mark.parametrize("method", ["POST", "HEAD", "get"])
def test_only_get(method: str) -> None:
    error = refused(GOOD, method)
    assert error.status == 405
    assert error.headers == {"Allow": "GET"}


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [("WebSocket", "upgrade"), ("websocket", "keep-alive, Upgrade"), ("h2c, websocket", "UPGRADE")],
)
def test_tokens_case_insensitive_and_listed(upgrade: str, connection: str) -> None:
    headers = {**GOOD, "upgrade": upgrade, "connection": connection}
    assert check_handshake("GET", headers) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    "change",
    [
        {"upgrade": None},
        {"upgrade": "h2c"},
        {"upgrade": "websockets"},
        {"connection": None},
        {"connection": "keep-alive"},
        {"connection": "upgraded"},
    ],
)
def test_upgrade_and_connection_required(change: dict[str, str | None]) -> None:
    headers = {**GOOD, **change}
    error = refused({k: v for k, v in headers.items() if v is not None})
    assert (error.status, error.headers) == (400, {})


@pytest.mark.parametrize("version", [None, "8", "12", "14", "13, 8", ""])
def test_version_13_only(version: str | None) -> None:
    headers = {k: v for k, v in GOOD.items() if k != "sec-websocket-version"}
    if version is not None:
        headers["sec-websocket-version"] = version
    error = refused(headers)
    assert (error.status, error.headers) == (426, {"Sec-WebSocket-Version": "13"})


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "dGhlIHNhbXBsZSBub25jZQ",  # padding missing
        base64.b64encode(bytes(15)).decode(),
        base64.b64encode(bytes(17)).decode(),
        "dGhlIHNhbXBsZSBub25j*Q==",
        "dGhlIHNhbXBsZSBub25jZé==",
    ],
)
def test_key_must_be_16_base64_bytes(key: str | None) -> None:
    headers = {k: v for k, v in GOOD.items() if k != "sec-websocket-key"}
    if key is not None:
        headers["sec-websocket-key"] = key
    assert refused(headers).status == 400


def test_errors_carry_their_fields() -> None:
    error = HandshakeError(400, "bad")
    assert (error.status, error.message, error.headers) == (400, "bad", {})
    violation_ = ProtocolViolation(1009, "too big")
    assert (violation_.code, violation_.reason) == (1009, "too big")
    assert "1009" in str(violation_)


# --- server frames -----------------------------------------------------------------------------


def parse_server_frame(data: bytes) -> Any:
    """Decode one unmasked frame with websockets' reader, insisting on no leftover bytes."""
    streams = pytest.importorskip("websockets.streams")
    reader = streams.StreamReader()
    reader.feed_data(data)
    parser = wsframes.Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    assert not reader.buffer
    return done.value.value


@pytest.mark.parametrize(
    ("opcode", "theirs_op"), [(Opcode.PING, "PING"), (Opcode.PONG, "PONG"), (Opcode.CLOSE, "CLOSE")]
)
def test_control_frame_parsed_by_websockets(opcode: Opcode, theirs_op: str) -> None:
    payload = close_payload(1000, "bye") if opcode is Opcode.CLOSE else b"hello"
    parsed = parse_server_frame(control_frame(opcode, payload))
    assert parsed.opcode is getattr(wsframes.Opcode, theirs_op)
    assert (parsed.data, parsed.fin) == (payload, True)


def test_control_frame_bytes_and_truncation() -> None:
    assert control_frame(Opcode.PING) == b"\x89\x00"
    assert control_frame(Opcode.PONG, b"ab") == b"\x8a\x02ab"
    long = control_frame(Opcode.PING, bytes(range(200)))
    assert long[:2] == b"\x89\x7d" and long[2:] == bytes(range(125))


def test_control_frame_refuses_data_opcodes() -> None:
    with pytest.raises(ValueError):
        control_frame(Opcode.TEXT, b"x")


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("", ""),
        ("going away", "going away"),
        ("a" * 200, "a" * 123),
        ("é" * 100, "é" * 61),  # 2-byte characters: 122 bytes, not a split 123rd
        ("€" * 50, "€" * 41),  # 3-byte characters: exactly 123 bytes
        ("a" + "😀" * 40, "a" + "😀" * 30),  # 4-byte characters after an offset
    ],
)
def test_close_payload_truncates_on_character_boundary(reason: str, kept: str) -> None:
    payload = close_payload(4001, reason)
    assert payload[:2] == b"\x0f\xa1"
    assert payload[2:].decode() == kept
    assert len(payload) <= 125
    closed = wsframes.Close.parse(payload)
    assert (closed.code, closed.reason) == (4001, kept)


def test_close_payload_roundtrips_through_reader() -> None:
    payload = close_payload(1001, "ünïcode " * 30)
    [closed] = FrameReader(MAX).feed(frame(8, payload))
    assert closed == Close(1001, payload[2:].decode())


# --- reading: the happy paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (text("hello"), TextMessage("hello")),
        (text(""), TextMessage("")),
        (text("x" * 125), TextMessage("x" * 125)),
        (text("y" * 126), TextMessage("y" * 126)),
        (text("z" * 1000), TextMessage("z" * 1000)),
        (text("ünïcødé ✓"), TextMessage("ünïcødé ✓")),
        (text("short", form=16), TextMessage("short")),  # lenient: longer form than needed
        (text("short", form=64), TextMessage("short")),
        (frame(2, b"\x00\xff"), BinaryMessage(b"\x00\xff")),
        (frame(9, b"p"), Ping(b"p")),
        (frame(9), Ping(b"")),
        (frame(10, b"q" * 125), Pong(b"q" * 125)),
        (frame(8), Close(None, "")),
        (frame(8, b"\x03\xe8"), Close(1000, "")),
        (frame(8, b"\x03\xe9bye"), Close(1001, "bye")),
    ],
)
def test_single_frame(data: bytes, expected: Received) -> None:
    assert FrameReader(MAX).feed(data) == [expected]


def test_messages_are_distinct_types() -> None:
    ping: object = Ping(b"x")  # NamedTuples would compare equal here
    assert ping != Pong(b"x")
    assert ping == Ping(b"x")


def test_message_exactly_at_limit() -> None:
    assert FrameReader(300).feed(text("a" * 300)) == [TextMessage("a" * 300)]
    assert FrameReader(5).feed(text("abcde")) == [TextMessage("abcde")]


def test_large_message_with_64_bit_length() -> None:
    data = RNG.randbytes(70_000)
    assert FrameReader(100_000).feed(frame(2, data)) == [BinaryMessage(data)]


def test_websockets_serialized_frames() -> None:
    op = wsframes.Opcode
    data = b"".join(
        [
            theirs(op.TEXT, b'{"event":"pusher:ping","data":{}}'),
            theirs(op.TEXT, "é".encode() * 200),
            theirs(op.BINARY, bytes(range(256)) * 300),
            theirs(op.PING, b"are you there"),
            theirs(op.PONG, b""),
            theirs(op.CLOSE, wsframes.Close(1001, "bye").serialize()),
        ]
    )
    assert FrameReader(100_000).feed(data) == [
        TextMessage('{"event":"pusher:ping","data":{}}'),
        TextMessage("é" * 200),
        BinaryMessage(bytes(range(256)) * 300),
        Ping(b"are you there"),
        Pong(b""),
        Close(1001, "bye"),
    ]


def test_websockets_fragmented_message_with_control_between() -> None:
    op = wsframes.Opcode
    reader = FrameReader(MAX)
    assert reader.feed(theirs(op.TEXT, b"Hel", fin=False)) == []
    assert reader.feed(theirs(op.PING, b"!")) == [Ping(b"!")]
    assert reader.feed(theirs(op.CONT, b"lo, ", fin=False)) == []
    assert reader.feed(theirs(op.CONT, b"world")) == [TextMessage("Hello, world")]


def test_fragmented_text_and_binary() -> None:
    reader = FrameReader(MAX)
    data = (
        frame(1, b"ab", fin=False)
        + frame(0, b"", fin=False)  # empty middle fragments are legal
        + frame(0, b"cd")
        + frame(2, b"\x01", fin=False)
        + frame(0, b"\x02")
    )
    assert reader.feed(data) == [TextMessage("abcd"), BinaryMessage(b"\x01\x02")]


def test_control_frames_between_fragments_come_out_at_once() -> None:
    reader = FrameReader(MAX)
    first = frame(1, b"one ", fin=False) + frame(9, b"a") + frame(10, b"b")
    assert reader.feed(first) == [Ping(b"a"), Pong(b"b")]
    assert reader.feed(frame(0, b"two ", fin=False) + frame(9, b"c")) == [Ping(b"c")]
    assert reader.feed(frame(0, b"three")) == [TextMessage("one two three")]


def test_close_between_fragments_ends_reading() -> None:
    reader = FrameReader(MAX)
    data = frame(1, b"part", fin=False) + frame(8, b"\x03\xe8") + frame(0, b"rest")
    assert reader.feed(data) == [Close(1000, "")]
    assert reader.feed(frame(0, b"more")) == []


def test_valid_character_split_across_fragments() -> None:
    raw = "😀".encode()
    data = frame(1, raw[:1], fin=False) + frame(0, raw[1:3], fin=False) + frame(0, raw[3:])
    assert FrameReader(MAX).feed(data) == [TextMessage("😀")]


def test_nothing_after_close_is_read() -> None:
    reader = FrameReader(MAX)
    assert reader.feed(text("a") + frame(8) + text("b") + b"\xff\xff") == [
        TextMessage("a"),
        Close(None, ""),
    ]
    assert reader.feed(text("c")) == []


# --- reading: any chunking ---------------------------------------------------------------------

STREAM = b"".join(
    [
        text("hello"),
        text("x" * 300),
        frame(2, bytes(range(256)) * 260),  # 64-bit length
        frame(9, b"ping"),
        frame(1, "frag ✓ ".encode()[:7], fin=False),
        frame(10, b""),
        frame(0, "frag ✓ ".encode()[7:], fin=False),
        frame(0, b"end"),
        text("lenient", form=64),
        text(""),
        frame(8, b"\x0f\xa0done"),
    ]
)
STREAM_MESSAGES: list[Received] = [
    TextMessage("hello"),
    TextMessage("x" * 300),
    BinaryMessage(bytes(range(256)) * 260),
    Ping(b"ping"),
    Pong(b""),
    TextMessage("frag ✓ end"),
    TextMessage("lenient"),
    TextMessage(""),
    Close(4000, "done"),
]


def test_stream_in_one_feed() -> None:
    assert FrameReader(100_000).feed(STREAM) == STREAM_MESSAGES


def test_stream_one_byte_at_a_time() -> None:
    reader = FrameReader(100_000)
    got = feed_all(reader, (STREAM[i : i + 1] for i in range(len(STREAM))))
    assert got == STREAM_MESSAGES


def test_stream_random_chunks() -> None:
    for _ in range(50):
        sizes = iter(lambda: RNG.choice([1, 2, 3, 7, 13, 100, 1500, 70_000]), None)
        assert feed_all(FrameReader(100_000), chunks(STREAM, sizes)) == STREAM_MESSAGES


def test_every_split_point_of_small_frames() -> None:
    data = text("héllo") + text("w" * 130) + frame(9, b"p") + text("x", form=64)
    expected = [TextMessage("héllo"), TextMessage("w" * 130), Ping(b"p"), TextMessage("x")]
    for cut in range(len(data) + 1):
        reader = FrameReader(MAX)
        assert reader.feed(data[:cut]) + reader.feed(data[cut:]) == expected, cut


def test_random_websockets_frames_random_chunks() -> None:
    op = wsframes.Opcode
    for _ in range(30):
        parts: list[bytes] = []
        expected: list[Received] = []
        for _ in range(RNG.randrange(1, 12)):
            size = RNG.choice([0, 1, 125, 126, 127, 500, 65_535, 65_536, 70_000])
            if RNG.random() < 0.5:
                body = "".join(RNG.choice("aé✓😀") for _ in range(size // 4))
                parts.append(theirs(op.TEXT, body.encode()))
                expected.append(TextMessage(body))
            else:
                blob = RNG.randbytes(size)
                parts.append(theirs(op.BINARY, blob))
                expected.append(BinaryMessage(blob))
        sizes = iter(lambda: RNG.randrange(1, 20_000), None)
        assert feed_all(FrameReader(100_000), chunks(b"".join(parts), sizes)) == expected


def test_pure_python_unmask_agrees_and_works(monkeypatch: pytest.MonkeyPatch) -> None:
    speedups = pytest.importorskip("websockets.speedups")
    for size in [*range(0, 40), 125, 4096, 65_537]:
        data, mask = RNG.randbytes(size), RNG.randbytes(4)
        assert ws._unmask_py(data, mask) == speedups.apply_mask(data, mask)
        assert ws._unmask_py(bytearray(data), bytearray(mask)) == speedups.apply_mask(data, mask)
    monkeypatch.setattr(ws, "_unmask", ws._unmask_py)
    assert FrameReader(100_000).feed(STREAM) == STREAM_MESSAGES
    reader = FrameReader(100_000)
    assert feed_all(reader, (STREAM[i : i + 1] for i in range(len(STREAM)))) == STREAM_MESSAGES


# --- reading: violations -----------------------------------------------------------------------


def test_unmasked_frame_rejected_from_two_bytes() -> None:
    data = frame(1, b"hello", masked=False)
    assert fails(data, 1002).reason
    assert fails(data[:2], 1002)
    assert fails(frame(1, b"x" * 200, masked=False)[:2], 1002)


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_rejected(rsv: int) -> None:
    fails(text("hi", rsv=rsv), 1002)
    fails(frame(9, b"", rsv=rsv), 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_unknown_opcode_rejected(opcode: int) -> None:
    fails(frame(opcode, b"x"), 1002)


def test_continuation_without_message() -> None:
    fails(frame(0, b"x"), 1002)
    fails(frame(0, b"x", fin=False), 1002)
    reader = FrameReader(MAX)
    assert reader.feed(frame(1, b"a", fin=False) + frame(0, b"b")) == [TextMessage("ab")]
    violation(reader, frame(0, b"c"), 1002)


@pytest.mark.parametrize("opcode", [1, 2])
@pytest.mark.parametrize("fin", [True, False])
def test_new_message_inside_fragmented_one(opcode: int, fin: bool) -> None:
    reader = FrameReader(MAX)
    assert reader.feed(frame(2, b"a", fin=False)) == []
    violation(reader, frame(opcode, b"b", fin=fin), 1002)


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_fragmented_control_frame(opcode: int) -> None:
    fails(frame(opcode, b"", fin=False), 1002)


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_control_frame_over_125(opcode: int) -> None:
    payload = b"\x03\xe8" + b"x" * 124
    fails(frame(opcode, payload), 1002)
    fails(frame(opcode, payload)[:2], 1002)  # known from the 7-bit length alone
    fails(frame(opcode, b"", announce=126, form=64)[:2], 1002)


def test_oversize_single_frame() -> None:
    fails(text("a" * 301), 1009, max_bytes=300)
    fails(text("abcdef"), 1009, max_bytes=5)  # on the fast path too


def test_oversize_decided_from_header_alone() -> None:
    huge = 1 << 30
    header = frame(1, b"", announce=huge)
    assert len(header) == 14  # 2 + 8 length bytes + 4 mask bytes, and no payload at all
    assert "1024" in fails(header, 1009).reason
    fails(header[:10], 1009)  # the mask has not even arrived
    fails(frame(2, b"", announce=MAX + 1)[:4], 1009)


def test_oversize_header_after_partial_feeds() -> None:
    reader = FrameReader(MAX)
    header = frame(2, b"", announce=1 << 40)
    assert reader.feed(text("ok") + header[:5]) == [TextMessage("ok")]
    assert reader.feed(header[5:9]) == []  # one length byte still missing
    violation(reader, header[9:10], 1009)


def test_oversize_sum_of_fragments() -> None:
    reader = FrameReader(10)
    assert reader.feed(frame(1, b"12345", fin=False) + frame(9, b"x" * 100)) == [Ping(b"x" * 100)]
    assert reader.feed(frame(0, b"678", fin=False)) == []
    violation(reader, frame(0, b"901", announce=3)[:2], 1009)

    exact = FrameReader(10)
    assert exact.feed(frame(1, b"12345", fin=False) + frame(0, b"67890")) == [
        TextMessage("1234567890")
    ]


def test_64_bit_length_top_bit() -> None:
    header = frame(2, b"", announce=1 << 63, form=64)
    fails(header[:10], 1002, max_bytes=1 << 70)


@pytest.mark.parametrize(
    "data",
    [
        frame(1, b"\xff"),  # fast path
        frame(1, b"ok \xc3"),  # truncated sequence
        frame(1, b"\xed\xa0\x80"),  # surrogate
        frame(1, b"x" * 200 + b"\xc0\xaf"),  # 16-bit path, overlong encoding
        frame(1, b"x" * 200 + b"\xff", form=64),
    ],
)
def test_invalid_utf8(data: bytes) -> None:
    fails(data, 1007)


def test_invalid_utf8_split_across_fragments() -> None:
    reader = FrameReader(MAX)
    # A lead byte whose continuation never comes: each fragment alone looks harmless.
    assert reader.feed(frame(1, b"caf\xc3", fin=False)) == []
    assert reader.feed(frame(0, b"(", fin=False)) == []
    violation(reader, frame(0, b"!"), 1007)


def test_binary_is_not_utf8_checked() -> None:
    assert FrameReader(MAX).feed(frame(2, b"\xff\xfe")) == [BinaryMessage(b"\xff\xfe")]


VALID_CLOSE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CLOSE += [3000, 3999, 4000, 4001, 4999]
INVALID_CLOSE = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CLOSE)
def test_valid_close_codes(code: int) -> None:
    assert FrameReader(MAX).feed(frame(8, code.to_bytes(2, "big") + b"why")) == [Close(code, "why")]


@pytest.mark.parametrize("code", INVALID_CLOSE)
def test_invalid_close_codes(code: int) -> None:
    fails(frame(8, code.to_bytes(2, "big")), 1002)


def test_close_payload_of_one_byte() -> None:
    fails(frame(8, b"\x03"), 1002)


def test_close_reason_not_utf8() -> None:
    fails(frame(8, b"\x03\xe8bad \xff"), 1007)


def test_violation_after_good_frames_and_split_header() -> None:
    reader = FrameReader(MAX)
    data = text("fine") + frame(3, b"x")
    assert reader.feed(data[:7]) == []  # half of the first frame
    violation(reader, data[7:], 1002)
