from __future__ import annotations

import orjson
import pytest

from tidings.protocol import messages
from tidings.protocol.errors import Code, PusherError
from tidings.protocol.framing import close_frame, text_frame


def test_server_frames_use_the_documented_data_forms() -> None:
    established = orjson.loads(messages.connection_established("1.2", 120))
    assert orjson.loads(established["data"]) == {"socket_id": "1.2", "activity_timeout": 120}
    error = orjson.loads(messages.error(Code.APP_NOT_FOUND, "nope"))
    assert error["data"] == {"code": 4001, "message": "nope"}  # an object, not a string
    assert orjson.loads(messages.error(None, "bad"))["data"]["code"] is None
    succeeded = orjson.loads(messages.subscription_succeeded("news"))
    assert succeeded == {
        "event": "pusher_internal:subscription_succeeded",
        "channel": "news",
        "data": "{}",
    }
    signin = orjson.loads(messages.signin_success('{"id":"1"}'))
    assert signin["data"] == {"user_data": '{"id":"1"}'}  # user_data stays a string


def test_presence_payload_is_keyed_by_user_id() -> None:
    snapshot = messages.presence_snapshot({"u-1": {"name": "Ada"}, "2": None})
    frame = orjson.loads(messages.subscription_succeeded("presence-r", snapshot))
    assert orjson.loads(frame["data"]) == {
        "presence": {"ids": ["u-1", "2"], "hash": {"u-1": {"name": "Ada"}, "2": None}, "count": 2}
    }
    added = orjson.loads(messages.member_added("presence-r", "u-1", {"name": "Ada"}))
    assert orjson.loads(added["data"]) == {"user_id": "u-1", "user_info": {"name": "Ada"}}


def test_events_relay_data_unchanged_and_user_id_at_top_level() -> None:
    frame = orjson.loads(messages.event("client-typing", "presence-r", {"t": True}, "u-1"))
    assert frame == {
        "event": "client-typing",
        "channel": "presence-r",
        "data": {"t": True},
        "user_id": "u-1",
    }
    assert orjson.loads(messages.event("e", "c", '{"id":42}'))["data"] == '{"id":42}'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "Invalid JSON"),
        ("[1,2]", "JSON objects"),
        ('{"data":{}}', "'event'"),
        ('{"event":""}', "'event'"),
        ('{"event":"x","channel":5}', "'channel'"),
    ],
)
def test_malformed_frames_are_reported(text: str, fragment: str) -> None:
    with pytest.raises(PusherError) as caught:
        messages.decode(text)
    assert fragment in caught.value.message
    assert not caught.value.close


def test_text_frames_for_each_length_encoding() -> None:
    for size, header in ((5, b"\x81\x05"), (300, b"\x81\x7e\x01\x2c")):
        assert text_frame(b"x" * size) == header + b"x" * size
    big = text_frame(b"x" * 70000)
    assert big[:2] == b"\x81\x7f" and int.from_bytes(big[2:10], "big") == 70000


def test_close_frame_carries_the_code() -> None:
    assert close_frame(4200, "bye") == b"\x88\x05\x10\x68bye"
    assert len(close_frame(4200, "x" * 500)) == 2 + 125
