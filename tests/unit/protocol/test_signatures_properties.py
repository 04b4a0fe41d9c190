"""Signatures on arbitrary input: what the official Python SDK signs is accepted, anything else
is refused with a 401 or False, and nothing raises."""

from __future__ import annotations

import hashlib
import time

import pusher
import pusher.http
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.protocol.channels import NAME_CHARSET
from tidings.protocol.errors import ApiError
from tidings.protocol.signatures import channel_auth_valid, user_auth_valid, verify_api_request

KEY, SECRET, APP_ID = "fuzz-key", "fuzz-secret", "4242"
SDK = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=1, ssl=False)

socket_ids = st.from_regex(r"\A[0-9]{1,10}\.[0-9]{1,10}\Z")
channel_names = st.from_regex(NAME_CHARSET.pattern.join([r"\A", r"\Z"])).filter(
    lambda name: len(name) <= 200
)
# What a query string decodes to: any text but lone surrogates (unquote_plus replaces those).
query_text = st.text(max_size=40)
param_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


def _verify(params: list[tuple[str, str]], body: bytes, method: str, path: str) -> None:
    verify_api_request(
        key=KEY,
        secret=SECRET,
        method=method,
        path=path,
        params=params,
        body=body,
        now=time.time(),
    )


AUTH_FIELDS = ("auth_key", "auth_timestamp", "auth_version", "body_md5", "auth_signature")
# Digit runs of every length, past what a float holds (309 digits) and int() reads (4300).
digit_runs = st.text("0123456789", max_size=20) | st.integers(300, 5000).map("9".__mul__)
wrong_values = st.none() | query_text | digit_runs


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    """Right auth parameters but one or two, missing or any text (long digit runs included),
    so that every check in turn gets a strange value."""
    body_md5 = hashlib.md5(draw(st.sampled_from([b"", b"{}"]))).hexdigest()
    values = (KEY, str(int(time.time())), "1.0", body_md5, "0" * 64)
    right = dict(zip(AUTH_FIELDS, values, strict=True))
    for name in draw(st.sets(st.sampled_from(AUTH_FIELDS), min_size=1, max_size=2)):
        value = draw(wrong_values)
        if value is None:
            del right[name]
        else:
            right[name] = value
    right.update(draw(st.dictionaries(param_names, query_text, max_size=3)))
    return right


@given(
    queries(),
    st.sampled_from([b"", b"{}"]) | st.binary(max_size=64),
    st.sampled_from(["GET", "POST", "PUT", "get"]),
    query_text,
)
def test_any_query_is_accepted_or_refused_with_401(
    params: dict[str, str], body: bytes, method: str, path: str
) -> None:
    try:
        _verify(list(params.items()), body, method, path)
    except ApiError as error:
        assert error.status == 401 and error.message
    else:  # a random query that passes must hold the right signature: never by chance
        pytest.fail(f"accepted an unsigned request: {params}")


@given(
    st.dictionaries(param_names.filter(lambda n: not n.startswith(("auth_", "body_"))), query_text),
    st.sampled_from(["channels", "channels/presence-room", "users/u-1/terminate_connections"]),
)
def test_what_the_python_sdk_signs_is_accepted(params: dict[str, str], path: str) -> None:
    full_path = f"/apps/{APP_ID}/{path}"
    get = pusher.http.Request(SDK._pusher_client, pusher.http.GET, full_path, dict(params))
    _verify(list(get.query_params.items()), b"", "GET", full_path)
    post = pusher.http.Request(SDK._pusher_client, pusher.http.POST, full_path, dict(params))
    _verify(list(post.query_params.items()), post.body, "POST", full_path)
    with pytest.raises(ApiError, match="body_md5 mismatch"):
        _verify(list(post.query_params.items()), post.body + b" ", "POST", full_path)


user_ids = st.from_regex(r"\A[a-zA-Z0-9_-]{1,20}\Z")


@given(socket_ids, channel_names, user_ids, st.dictionaries(st.text(max_size=5), st.text()))
def test_channel_tokens_from_the_sdk_are_valid_and_bound_to_their_strings(
    socket_id: str, channel: str, user_id: str, info: dict[str, str]
) -> None:
    private = SDK.authenticate("private-" + channel, socket_id)
    assert channel_auth_valid(KEY, SECRET, socket_id, "private-" + channel, private["auth"], None)
    other = "private-x" + channel
    assert not channel_auth_valid(KEY, SECRET, socket_id, other, private["auth"], None)
    member = {"user_id": user_id, "user_info": info}
    presence = SDK.authenticate("presence-" + channel, socket_id, member)
    data = presence["channel_data"]
    assert channel_auth_valid(KEY, SECRET, socket_id, "presence-" + channel, presence["auth"], data)
    assert not channel_auth_valid(
        KEY, SECRET, socket_id, "presence-" + channel, presence["auth"], data + " "
    )
    user = SDK.authenticate_user(socket_id, {"id": user_id, "user_info": info})
    assert user_auth_valid(KEY, SECRET, socket_id, user["user_data"], user["auth"])


tokens = st.none() | st.integers() | query_text | st.builds(lambda t: f"{KEY}:{t}", query_text)


@given(query_text, query_text, tokens, st.none() | query_text)
def test_tokens_of_any_shape_are_refused_without_raising(
    socket_id: str, channel: str, token: object, channel_data: str | None
) -> None:
    assert not channel_auth_valid(KEY, SECRET, socket_id, channel, token, channel_data)
    assert not user_auth_valid(KEY, SECRET, socket_id, channel, token)
