"""``parse_trigger``: what a triggered event must look like, and what each refusal says."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.apps import App
from tidings.protocol.errors import ApiError
from tidings.server.api.trigger import Trigger, parse_trigger

APP = App(id="1", key="k", secret="s")


def event(**fields: Any) -> dict[str, Any]:
    """A valid single-channel event, with ``fields`` added or replaced."""
    return {"name": "greet", "channels": ["news"], "data": "hello", **fields}


def without(field: str, item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != field}


def refusal(
    item: dict[str, Any], app: App = APP, *, single_channel: bool = False
) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        parse_trigger(app, item, single_channel=single_channel)
    return caught.value.status, caught.value.message


# -- accepted events ------------------------------------------------------------------------


def test_a_valid_event_becomes_a_trigger_with_every_field() -> None:
    item = event(channels=["news", "sports"], socket_id="123.456", info="user_count")
    assert parse_trigger(APP, item) == Trigger(
        name="greet",
        channels=("news", "sports"),
        data="hello",
        socket_id="123.456",
        info=("user_count",),
    )


def test_optional_fields_default_to_none_and_empty() -> None:
    trigger = parse_trigger(APP, event())
    assert trigger.socket_id is None
    assert trigger.info == ()


def test_a_single_channel_field_is_accepted_in_place_of_channels() -> None:
    item = without("channels", event(channel="news"))
    assert parse_trigger(APP, item).channels == ("news",)


def test_single_channel_endpoints_read_channel_and_ignore_channels() -> None:
    item = event(channel="news", channels=["a", "b"])
    assert parse_trigger(APP, item, single_channel=True).channels == ("news",)
    assert parse_trigger(APP, item).channels == ("a", "b")  # channels wins elsewhere


@pytest.mark.parametrize(
    ("data", "relayed"),
    [
        ({"text": "hi", "n": 1}, '{"text":"hi","n":1}'),
        ([1, 2], "[1,2]"),
        (42, "42"),
        (None, "null"),
        (True, "true"),
    ],
)
def test_non_string_data_is_serialized_to_compact_json(data: object, relayed: str) -> None:
    assert parse_trigger(APP, event(data=data)).data == relayed


def test_string_data_is_relayed_exactly_as_given() -> None:
    raw = '{ "spaced" : "as sent" }'
    assert parse_trigger(APP, event(data=raw)).data == raw


def test_info_attributes_are_split_on_commas_and_trimmed() -> None:
    trigger = parse_trigger(APP, event(info="user_count , subscription_count"))
    assert trigger.info == ("user_count", "subscription_count")
    assert parse_trigger(APP, event(info="")).info == ()


def test_an_encrypted_channel_alone_is_accepted() -> None:
    trigger = parse_trigger(APP, event(channels=["private-encrypted-x"]))
    assert trigger.channels == ("private-encrypted-x",)


# -- name -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "", 7, ["greet"]])
def test_a_missing_empty_or_non_string_name_is_refused(name: object) -> None:
    item = without("name", event()) if name is None else event(name=name)
    assert refusal(item) == (400, "'name' is required: the event name, a non-empty string")


def test_the_event_name_limit_comes_from_the_app() -> None:
    app = App(id="1", key="k", secret="s", max_event_name_length=5)
    assert parse_trigger(app, event(name="abcde")).name == "abcde"
    assert refusal(event(name="abcdef"), app) == (400, "Event name is longer than 5 characters")


# -- data -----------------------------------------------------------------------------------


def test_missing_data_is_refused() -> None:
    assert refusal(without("data", event())) == (
        400,
        "'data' is required: the event payload, a string",
    )


def test_the_payload_limit_comes_from_the_app_and_oversize_is_413() -> None:
    app = App(id="1", key="k", secret="s", max_event_payload_in_kb=0.01)  # 10 bytes
    assert parse_trigger(app, event(data="x" * 10)).data == "x" * 10
    assert refusal(event(data="x" * 11), app) == (
        413,
        "The data content of this event exceeds the allowed maximum (10 bytes); it is 11 bytes.",
    )


def test_the_payload_is_measured_in_utf8_bytes_not_characters() -> None:
    app = App(id="1", key="k", secret="s", max_event_payload_in_kb=0.01)  # 10 bytes
    status, message = refusal(event(data="é" * 6), app)  # 6 characters, 12 bytes
    assert status == 413
    assert message.endswith("it is 12 bytes.")


def test_serialized_data_is_measured_after_serialization() -> None:
    app = App(id="1", key="k", secret="s", max_event_payload_in_kb=0.01)  # 10 bytes
    status, message = refusal(event(data={"k": "123456"}), app)  # {"k":"123456"}: 14 bytes
    assert status == 413
    assert message.endswith("it is 14 bytes.")


# -- channels -------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [[], "news", None, {"news": 1}])
def test_channels_must_be_a_non_empty_list(channels: object) -> None:
    assert refusal(event(channels=channels)) == (
        400,
        "'channels' must be a non-empty list of channel names",
    )


def test_an_event_without_any_channel_is_refused() -> None:
    assert refusal(without("channels", event())) == (400, "'channels' (or 'channel') is required")


def test_a_single_channel_endpoint_asks_for_channel_by_its_name() -> None:
    assert refusal(event(), single_channel=True) == (400, "'channel' is required")


def test_the_channels_at_once_limit_comes_from_the_app() -> None:
    app = App(id="1", key="k", secret="s", max_event_channels_at_once=2)
    assert parse_trigger(app, event(channels=["a", "b"])).channels == ("a", "b")
    assert refusal(event(channels=["a", "b", "c"]), app) == (
        400,
        "An event can go to at most 2 channels at once",
    )


def test_the_channel_name_length_limit_comes_from_the_app() -> None:
    app = App(id="1", key="k", secret="s", max_channel_name_length=4)
    assert parse_trigger(app, event(channels=["abcd"])).channels == ("abcd",)
    assert refusal(event(channels=["abcde"]), app) == (
        400,
        "Channel name is 5 characters long; the limit is 4",
    )


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        (
            "bad name",
            "Channel name 'bad name' has characters outside a-z A-Z 0-9 and - _ = @ , . ;",
        ),
        ("", "Channel name must be a non-empty string"),
        (5, "Channel name must be a non-empty string"),
        ("#server-to-user-", "User id must be a non-empty string"),
    ],
)
def test_an_invalid_channel_name_is_refused_with_the_reason(channel: object, message: str) -> None:
    assert refusal(event(channels=["news", channel])) == (400, message)


def test_an_invalid_single_channel_is_refused_with_the_reason() -> None:
    item = without("channels", event(channel="a b"))
    status, message = refusal(item, single_channel=True)
    assert status == 400
    assert message.startswith("Channel name 'a b' has characters outside")


def test_an_encrypted_channel_cannot_share_an_event_with_other_channels() -> None:
    assert refusal(event(channels=["private-encrypted-x", "news"])) == (
        400,
        "An event for an encrypted channel must go to that channel alone",
    )


# -- socket_id and info ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("socket_id", "shown"), [("abc", "'abc'"), ("1.", "'1.'"), ("1.2.3", "'1.2.3'"), (12, "12")]
)
def test_a_malformed_socket_id_is_refused(socket_id: object, shown: str) -> None:
    assert refusal(event(socket_id=socket_id)) == (
        400,
        f"Invalid socket_id {shown}: expected digits.digits",
    )


@pytest.mark.parametrize("info", [["user_count"], 1, {"user_count": True}])
def test_info_must_be_a_string(info: object) -> None:
    assert refusal(event(info=info)) == (400, "'info' must be a comma-separated string")


def test_unknown_info_attributes_are_named_in_the_refusal() -> None:
    assert refusal(event(info="user_count,members,colour")) == (
        400,
        "Unknown info attribute(s) members, colour; use user_count and/or subscription_count",
    )


# -- order of checks ------------------------------------------------------------------------


def test_problems_are_reported_in_field_order_name_data_channels_socket_id_info() -> None:
    broken = {"name": "", "channels": [], "socket_id": "x", "info": 1}
    assert "'name'" in refusal(broken)[1]
    broken["name"] = "ok"
    assert "'data'" in refusal(broken)[1]
    broken["data"] = "d"
    assert "'channels'" in refusal(broken)[1]
    broken["channels"] = ["news"]
    assert "socket_id" in refusal(broken)[1]
    broken["socket_id"] = "1.1"
    assert "'info'" in refusal(broken)[1]


def test_data_too_deep_to_send_again_is_a_400() -> None:
    """Found by fuzzing: an object ``data`` nested past orjson's 254 writable levels raised
    TypeError, which the HTTP layer answered with a 500."""
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    assert refusal(event(data=deep)) == (400, "'data' is nested too deeply; send it as a string")
