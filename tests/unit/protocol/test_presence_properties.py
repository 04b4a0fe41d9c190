"""Presence members from any ``channel_data``: a member whose info can be sent, or a reason."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.support.strategies import any_json_value, json_text, json_values
from tidings.protocol import messages
from tidings.protocol.presence import MAX_PRESENCE_USER_ID_LENGTH, parse_channel_data


def _member_or_reason(channel_data: object, max_info_bytes: int) -> None:
    try:
        member = parse_channel_data(channel_data, max_info_bytes)
    except ValueError as error:
        assert str(error)
        return
    assert isinstance(member.user_id, str)
    assert 0 < len(member.user_id) <= MAX_PRESENCE_USER_ID_LENGTH
    # Whatever is accepted goes out again in member_added and subscription_succeeded.
    added = orjson.loads(messages.member_added("presence-x", member.user_id, member.user_info))
    assert orjson.loads(added["data"])["user_id"] == member.user_id
    messages.subscription_succeeded(
        "presence-x", messages.presence_snapshot({member.user_id: member.user_info})
    )


@given(st.text() | json_values | json_text)
def test_any_channel_data_is_a_member_or_a_reason(channel_data: object) -> None:
    _member_or_reason(channel_data, 1024)


@given(st.one_of(st.text(), st.integers(), st.booleans(), st.none()), any_json_value)
def test_any_member_object_is_a_member_or_a_reason(user_id: Any, user_info: Any) -> None:
    channel_data = json.dumps({"user_id": user_id, "user_info": user_info})
    _member_or_reason(channel_data, 1_000_000)
