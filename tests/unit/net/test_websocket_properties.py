"""The sans-I/O WebSocket layer on arbitrary bytes: messages come out whole however TCP cuts
them, anything else is a ProtocolViolation with a close code, and the reader never holds more
than one message's worth of bytes."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from tidings.net.websocket import (
    BinaryMessage,
    Close,
    FrameReader,
    HandshakeError,
    Ping,
    Pong,
    ProtocolViolation,
    Received,
    TextMessage,
    check_handshake,
    close_payload,
)

MAX = 1024


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut where TCP might cut it: anywhere, down to single bytes."""
    points = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
    edges = [0, *[p for p in points if p < len(data)], len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


def feed_all(reader: FrameReader, chunks: list[bytes]) -> tuple[list[Received], int | None]:
    """Everything the reader yields, and the close code of the violation that ended it."""
    out: list[Received] = []
    for chunk in chunks:
        try:
            out += reader.feed(chunk)
        except ProtocolViolation as violation:
            assert violation.code in (1002, 1007, 1009) and violation.reason
            assert reader.feed(b"\x81\x80\x00\x00\x00\x00") == []  # dead stays dead
            return out, violation.code
        held = len(reader._buf or b"") + len(reader._frag or b"")
        assert held <= MAX + 14  # a frame header plus one message, never more
    return out, None


# -- well-formed traffic, as a client library sends it --------------------------------------

messages = st.one_of(
    st.text(max_size=200).map(TextMessage),
    st.binary(max_size=200).map(BinaryMessage),
)
controls = st.one_of(st.binary(max_size=125).map(Ping), st.binary(max_size=125).map(Pong))


@st.composite
def conversations(draw: st.DrawFn) -> tuple[bytes, list[Received]]:
    """Messages, each cut into fragments with pings and pongs between them, then a close."""
    wire = b""
    expected: list[Received] = []
    for message in draw(st.lists(messages, max_size=6)):
        data = message.text.encode() if isinstance(message, TextMessage) else message.data
        opcode = Opcode.TEXT if isinstance(message, TextMessage) else Opcode.BINARY
        pieces = draw(cuts(data)) or [b""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            wire += Frame(opcode if index == 0 else Opcode.CONT, piece, fin=last).serialize(
                mask=True
            )
            for control in draw(st.lists(controls, max_size=2)):
                kind = Opcode.PING if isinstance(control, Ping) else Opcode.PONG
                wire += Frame(kind, control.data).serialize(mask=True)
                expected.append(control)
        expected.append(message)
    code = draw(st.sampled_from([1000, 1001, 3000, 4999]))
    reason = draw(st.text(max_size=20).filter(lambda r: len(r.encode()) <= 123))
    wire += Frame(Opcode.CLOSE, close_payload(code, reason)).serialize(mask=True)
    expected.append(Close(code, reason))
    return wire, expected


@given(conversations().flatmap(lambda c: st.tuples(st.just(c), cuts(c[0]))))
def test_messages_come_out_whole_however_the_bytes_are_cut(case: Any) -> None:
    (_, expected), chunks = case
    out, violation = feed_all(FrameReader(MAX), chunks)
    assert violation is None
    # Fragments are joined; a control frame between them comes out first (RFC 6455 §5.4).
    assert sorted(map(repr, out)) == sorted(map(repr, expected))
    assert [m for m in out if isinstance(m, TextMessage | BinaryMessage)] == [
        m for m in expected if isinstance(m, TextMessage | BinaryMessage)
    ]
    assert out[-1] == expected[-1]


# -- anything at all -------------------------------------------------------------------------


@st.composite
def frame_like(draw: st.DrawFn) -> bytes:
    """A header with any bits, any length form and announced length, then some payload."""
    first = draw(st.integers(0, 255) | st.sampled_from([0x81, 0x82, 0x01, 0x80, 0x88, 0x89]))
    masked = draw(st.booleans() | st.just(True))
    form = draw(st.sampled_from([7, 16, 64]))
    if form == 7:
        length = draw(st.integers(0, 125))
        head = bytes([first, masked << 7 | length])
    elif form == 16:
        length = draw(st.integers(0, 0xFFFF))
        head = bytes([first, masked << 7 | 126]) + length.to_bytes(2, "big")
    else:
        length = draw(st.integers(0, 2**64 - 1))
        head = bytes([first, masked << 7 | 127]) + length.to_bytes(8, "big")
    if masked:
        head += draw(st.binary(min_size=4, max_size=4))
    return head + draw(st.binary(max_size=min(length, 300)))


streams = st.lists(
    frame_like() | conversations().map(lambda c: c[0][:-8]) | st.binary(max_size=40), max_size=6
).map(b"".join)


@given(streams.flatmap(lambda data: st.tuples(st.just(data), cuts(data))))
def test_any_bytes_give_messages_or_a_close_code(case: tuple[bytes, list[bytes]]) -> None:
    data, chunks = case
    whole, whole_code = feed_all(FrameReader(MAX), [data])
    pieces, pieces_code = feed_all(FrameReader(MAX), chunks)
    assert whole_code == pieces_code
    if whole_code is None:
        assert whole == pieces
    else:
        # Messages read before the violation in the same feed are dropped with it.
        assert pieces[: len(whole)] == whole


# -- the handshake and close frames ----------------------------------------------------------

header_names = st.sampled_from(
    ["upgrade", "connection", "sec-websocket-version", "sec-websocket-key", "origin"]
)
good_headers = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": base64.b64encode(b"0123456789abcdef").decode(),
}


@given(
    st.sampled_from(["GET", "POST", "get", ""]),
    st.dictionaries(header_names, st.text(max_size=30)),
    st.booleans(),
)
def test_any_upgrade_request_is_accepted_or_refused_with_a_status(
    method: str, headers: dict[str, str], start_good: bool
) -> None:
    request = {**good_headers, **headers} if start_good else headers
    try:
        accept = check_handshake(method, request)
    except HandshakeError as error:
        assert error.status in (400, 405, 426) and error.message
    else:
        assert len(base64.b64decode(accept)) == 20


@given(st.integers(1000, 4999), st.text())
def test_close_payloads_fit_a_control_frame_and_stay_utf8(code: int, reason: str) -> None:
    payload = close_payload(code, reason)
    assert len(payload) <= 125
    assert int.from_bytes(payload[:2], "big") == code
    assert reason.startswith(payload[2:].decode("utf-8"))
