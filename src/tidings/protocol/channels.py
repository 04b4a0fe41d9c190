"""Channel kinds and name rules: the one place that decides what a channel name means."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

NAME_CHARSET = re.compile(r"[-a-zA-Z0-9_=@,.;]+")
USER_ID_CHARSET = NAME_CHARSET
SERVER_TO_USER_PREFIX = "#server-to-user-"
PRESENCE_PREFIX = "presence-"
SOCKET_ID = re.compile(r"\d+\.\d+")


class Kind(Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"
    SERVER_TO_USER = "server-to-user"


@dataclass(frozen=True, slots=True)
class ChannelType:
    kind: Kind
    cached: bool

    @property
    def needs_auth(self) -> bool:
        return self.kind in (Kind.PRIVATE, Kind.ENCRYPTED, Kind.PRESENCE)

    @property
    def allows_client_events(self) -> bool:
        # pusher-js refuses client events on encrypted channels, so the hosted rule is kept.
        return self.kind in (Kind.PRIVATE, Kind.PRESENCE)

    @property
    def is_presence(self) -> bool:
        return self.kind is Kind.PRESENCE


# Most specific prefix first; matched with startswith (soketi's unanchored regexes are a bug).
_PREFIXES: tuple[tuple[str, ChannelType], ...] = (
    ("private-encrypted-cache-", ChannelType(Kind.ENCRYPTED, cached=True)),
    ("private-encrypted-", ChannelType(Kind.ENCRYPTED, cached=False)),
    ("private-cache-", ChannelType(Kind.PRIVATE, cached=True)),
    ("private-", ChannelType(Kind.PRIVATE, cached=False)),
    (PRESENCE_PREFIX + "cache-", ChannelType(Kind.PRESENCE, cached=True)),
    (PRESENCE_PREFIX, ChannelType(Kind.PRESENCE, cached=False)),
    ("cache-", ChannelType(Kind.PUBLIC, cached=True)),
    (SERVER_TO_USER_PREFIX, ChannelType(Kind.SERVER_TO_USER, cached=False)),
)
_PUBLIC = ChannelType(Kind.PUBLIC, cached=False)


_KNOWN: dict[str, ChannelType] = {}  # names seen lately: the same ones come back and back
_KNOWN_MAX = 4096


def channel_type(name: str) -> ChannelType:
    known = _KNOWN.get(name)
    if known is not None:
        return known
    found = _PUBLIC
    for prefix, kind in _PREFIXES:
        if name.startswith(prefix):
            found = kind
            break
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN[name] = found
    return found


def is_presence(name: str) -> bool:
    """Also true of a ``presence-`` prefix given to the channels endpoint's filter."""
    return name.startswith(PRESENCE_PREFIX)


_VALID: set[str] = set()  # names that passed lately, whatever the length limit (checked apart)


def channel_name_problem(name: object, max_length: int) -> str | None:
    """Why ``name`` is not a valid channel name, or None when it is."""
    if isinstance(name, str) and name in _VALID and len(name) <= max_length:
        return None
    problem = _name_problem(name, max_length)
    if problem is None and isinstance(name, str):
        if len(_VALID) >= _KNOWN_MAX:
            _VALID.clear()
        _VALID.add(name)
    return problem


def _name_problem(name: object, max_length: int) -> str | None:
    if not isinstance(name, str) or not name:
        return "Channel name must be a non-empty string"
    if len(name) > max_length:
        return f"Channel name is {len(name)} characters long; the limit is {max_length}"
    if name.startswith(SERVER_TO_USER_PREFIX):
        user_id = name[len(SERVER_TO_USER_PREFIX) :]
        return user_id_problem(user_id)
    if not NAME_CHARSET.fullmatch(name):
        return f"Channel name {name!r} has characters outside a-z A-Z 0-9 and - _ = @ , . ;"
    return None


def user_id_problem(user_id: object, max_length: int = 200) -> str | None:
    if not isinstance(user_id, str) or not user_id:
        return "User id must be a non-empty string"
    if len(user_id) > max_length:
        return f"User id is longer than {max_length} characters"
    if not USER_ID_CHARSET.fullmatch(user_id):
        return f"User id {user_id!r} has characters outside a-z A-Z 0-9 and - _ = @ , . ;"
    return None


def server_to_user_channel(user_id: str) -> str:
    return SERVER_TO_USER_PREFIX + user_id


def is_socket_id(value: object) -> bool:
    return isinstance(value, str) and SOCKET_ID.fullmatch(value) is not None
