"""``parse_trigger`` on any JSON object: a trigger whose frames can be built, or a 4xx."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.support.strategies import any_json_value
from tidings.apps import App
from tidings.protocol import messages
from tidings.protocol.errors import ApiError
from tidings.server.api.trigger import parse_trigger

APP = App(id="1", key="k", secret="s")
channel_names = st.sampled_from(["news", "private-encrypted-x", "#server-to-user-u", ""])
# Mostly what an SDK sends, so the checks behind the first get reached, with any value anywhere.
fields = st.fixed_dictionaries(
    {
        "name": st.just("greet") | st.just("x" * 201) | any_json_value,
        "data": st.text() | any_json_value,
        "channel": channel_names | st.text() | any_json_value,
    },
    optional={
        "channels": st.lists(channel_names | st.text(), max_size=3) | any_json_value,
        "socket_id": st.sampled_from(["1.2", "1"]) | any_json_value,
        "info": st.sampled_from(["user_count", "subscription_count, user_count", "x"])
        | any_json_value,
    },
)


@given(fields, st.booleans())
def test_any_event_object_is_a_trigger_or_a_4xx(item: dict[str, Any], single: bool) -> None:
    try:
        trigger = parse_trigger(APP, item, single_channel=single)
    except ApiError as error:
        assert 400 <= error.status < 500 and error.message
        return
    for channel in trigger.channels:
        frame = orjson.loads(messages.event(trigger.name, channel, trigger.data))
        assert frame["data"] == trigger.data
