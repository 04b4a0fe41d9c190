from __future__ import annotations

import pytest

from tidings.protocol.channels import (
    Kind,
    channel_name_problem,
    channel_type,
    is_socket_id,
    user_id_problem,
)


@pytest.mark.parametrize(
    ("name", "kind", "cached"),
    [
        ("news", Kind.PUBLIC, False),
        ("cache-prices", Kind.PUBLIC, True),
        ("private-orders", Kind.PRIVATE, False),
        ("private-cache-orders", Kind.PRIVATE, True),
        ("private-encrypted-vault", Kind.ENCRYPTED, False),
        ("private-encrypted-cache-vault", Kind.ENCRYPTED, True),
        ("presence-room", Kind.PRESENCE, False),
        ("presence-cache-room", Kind.PRESENCE, True),
        ("#server-to-user-42", Kind.SERVER_TO_USER, False),
        # Prefixes count only at the start (soketi's unanchored regexes get this wrong).
        ("foo-private-x", Kind.PUBLIC, False),
        ("my-presence-room", Kind.PUBLIC, False),
    ],
)
def test_kind_is_decided_by_prefix(name: str, kind: Kind, cached: bool) -> None:
    channel = channel_type(name)
    assert (channel.kind, channel.cached) == (kind, cached)


def test_client_events_only_on_private_and_presence() -> None:
    allowed = [
        n
        for n in ("news", "private-a", "presence-a", "private-encrypted-a", "cache-a")
        if channel_type(n).allows_client_events
    ]
    assert allowed == ["private-a", "presence-a"]


@pytest.mark.parametrize("name", ["a", "private-a_b=c@d,e.f;g", "x" * 200, "#server-to-user-7"])
def test_valid_names(name: str) -> None:
    assert channel_name_problem(name, 200) is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        ("x" * 201, "limit is 200"),
        ("with space", "characters outside"),
        ("#internal", "characters outside"),
        ("#server-to-user-", "non-empty"),
        ("#server-to-user-a b", "characters outside"),
        ("news\n", "characters outside"),
    ],
)
def test_invalid_names_say_why(name: object, fragment: str) -> None:
    problem = channel_name_problem(name, 200)
    assert problem is not None and fragment in problem


def test_socket_ids_and_user_ids() -> None:
    assert is_socket_id("123.456")
    assert not any(is_socket_id(v) for v in ("123", "a.1", "1.2.3", 12, None, "1.2\n"))
    assert user_id_problem("u-17") is None
    assert user_id_problem("x" * 201) is not None
