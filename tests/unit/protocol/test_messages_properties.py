"""Wire messages on arbitrary input: decode says why it refuses, encoders round-trip, and what a
frame carries survives the trip through a text frame as a client library reads it."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tests.support.strategies import json_text
from tidings.protocol import messages
from tidings.protocol.errors import Code, PusherError
from tidings.protocol.framing import close_frame, text_frame

# Values orjson writes back exactly as it read them: no floats (their text may change) and no
# integers beyond 64 bits (read back as floats).
exact_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(st.text() | st.binary() | json_text)
def test_decode_gives_a_frame_or_says_why_not(text: str | bytes) -> None:
    try:
        frame = messages.decode(text)
    except PusherError as error:
        assert error.code is None and error.message and not error.close
    else:
        assert isinstance(frame.event, str) and frame.event
        assert frame.channel is None or isinstance(frame.channel, str)


@given(st.text(min_size=1), st.none() | st.text(), exact_values)
def test_client_frames_decode_to_what_was_sent(event: str, channel: str | None, data: Any) -> None:
    sent: dict[str, Any] = {"event": event, "data": data}
    if channel is not None:
        sent["channel"] = channel
    frame = messages.decode(orjson.dumps(sent))
    assert (frame.event, frame.channel, frame.data) == (event, channel, data)
    if isinstance(data, dict):
        assert messages.data_object(frame) == data


def _client_reads(wire: bytes) -> Frame:
    """The frame as the websockets package (a client library) parses what we wrote."""
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        while True:
            next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame


@given(st.text(min_size=1), st.text(), exact_values, st.none() | st.text())
def test_events_round_trip_through_a_text_frame(
    name: str, channel: str, data: Any, user_id: str | None
) -> None:
    payload = messages.event(name, channel, data, user_id)
    frame = _client_reads(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin
    read = orjson.loads(frame.data)
    assert read == {"event": name, "channel": channel, "data": data} | (
        {} if user_id is None else {"user_id": user_id}
    )


@given(st.integers(4000, 4999), st.text())
def test_close_frames_fit_a_control_frame(code: int, reason: str) -> None:
    frame = _client_reads(close_frame(code, reason))
    assert frame.opcode is Opcode.CLOSE and len(frame.data) <= 125
    assert int.from_bytes(frame.data[:2], "big") == code


@given(st.sampled_from(list(Code)) | st.none(), st.text(), st.none() | st.text())
def test_server_frames_are_json_with_the_documented_data_forms(
    code: Code | None, message: str, channel: str | None
) -> None:
    error = orjson.loads(messages.error(code, message, channel))
    assert error["data"] == {"code": None if code is None else int(code), "message": message}
    established = orjson.loads(messages.connection_established(message, 120))
    assert orjson.loads(established["data"]) == {"socket_id": message, "activity_timeout": 120}
    members = {message: {"name": channel}}
    succeeded = orjson.loads(messages.subscription_succeeded(message, members))
    assert isinstance(succeeded["data"], str)
    assert orjson.loads(succeeded["data"]) == {"presence": members}
