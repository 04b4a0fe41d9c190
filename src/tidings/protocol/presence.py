"""Presence members: parsing ``channel_data`` / sign-in ``user_data`` into a member."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.protocol.messages import json_size

MAX_PRESENCE_USER_ID_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    user_info: Any


def normalise_user_id(value: object) -> str | None:
    """User ids may arrive as numbers (the docs' own example uses 10); we key by the string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def parse_channel_data(channel_data: object, max_info_bytes: int) -> Member:
    """Raise ValueError with a reason unless ``channel_data`` is a valid presence member."""
    if not isinstance(channel_data, str):
        raise ValueError("Presence channels need channel_data (a JSON string) with a user_id")
    try:
        data = orjson.loads(channel_data)
    except orjson.JSONDecodeError:
        raise ValueError("channel_data is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("channel_data must be a JSON object with a user_id")
    user_id = normalise_user_id(data.get("user_id"))
    if user_id is None:
        raise ValueError("channel_data must have a non-empty user_id")
    if len(user_id) > MAX_PRESENCE_USER_ID_LENGTH:
        raise ValueError(f"user_id is longer than {MAX_PRESENCE_USER_ID_LENGTH} characters")
    user_info = data.get("user_info")
    if user_info is not None:
        size = json_size(user_info)
        if size is None:
            raise ValueError("user_info is nested too deeply")
        if size > max_info_bytes:
            raise ValueError(f"user_info is larger than {max_info_bytes} bytes")
    return Member(user_id, user_info)
