"""Channel and user-id rules on arbitrary input: an answer for everything, never an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.support.strategies import json_values
from tidings.protocol.channels import (
    NAME_CHARSET,
    SERVER_TO_USER_PREFIX,
    channel_name_problem,
    channel_type,
    is_socket_id,
    user_id_problem,
)

PREFIXES = [
    "",
    "private-",
    "private-encrypted-",
    "private-encrypted-cache-",
    "private-cache-",
    "presence-",
    "presence-cache-",
    "cache-",
    SERVER_TO_USER_PREFIX,
]
names = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(PREFIXES), st.text())
anything = names | st.text() | json_values


@given(anything, st.integers(min_value=0, max_value=300))
def test_channel_name_problem_answers_every_value(name: object, max_length: int) -> None:
    problem = channel_name_problem(name, max_length)
    assert problem is None or (isinstance(problem, str) and problem)
    if problem is None:
        assert isinstance(name, str) and 0 < len(name) <= max_length
        if not name.startswith(SERVER_TO_USER_PREFIX):
            assert NAME_CHARSET.fullmatch(name)
    # The answer does not depend on what was asked before (the cache of valid names).
    assert channel_name_problem(name, max_length) == problem


@given(names)
def test_every_string_has_exactly_one_kind(name: str) -> None:
    kind = channel_type(name)
    assert kind is channel_type(name)
    assert kind.needs_auth == name.startswith(("private-", "presence-"))


@given(anything)
def test_user_ids_and_socket_ids_are_judged_without_raising(value: object) -> None:
    problem = user_id_problem(value)
    assert problem is None or isinstance(problem, str)
    if isinstance(value, str) and is_socket_id(value):
        left, _, right = value.partition(".")
        assert left.isdigit() and right.isdigit()
