"""Which channels of an app keep a history (docs/history.md): glob patterns with their bounds."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

HISTORY_KEYS = ("channels", "max_events", "ttl")
MAX_EVENTS_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class HistoryRule:
    channels: str  # a glob on channel names, e.g. "agent-*"
    max_events: int = 500
    ttl: float = 3600.0
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(fnmatch.translate(self.channels)))

    def matches(self, channel: str) -> bool:
        return self._regex.match(channel) is not None


def rule_for(rules: tuple[HistoryRule, ...], channel: str) -> HistoryRule | None:
    """The first rule whose pattern matches ``channel``: the config's order decides."""
    for rule in rules:
        if rule.matches(channel):
            return rule
    return None


def parse_rules(value: Any) -> tuple[HistoryRule, ...]:
    """``history = [{channels = "agent-*", max_events = 500, ttl = 3600}, ...]``; raises
    ValueError saying what is wrong and how to write it."""
    example = 'history = [{ channels = "agent-*", max_events = 500, ttl = 3600 }]'
    if not isinstance(value, list):
        raise ValueError(f"'history' must be a list of tables, e.g. {example}")
    rules = []
    for index, item in enumerate(value):
        at = f"history[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at}: each entry must be a table, e.g. {example}")
        unknown = set(item) - set(HISTORY_KEYS)
        if unknown:
            raise ValueError(
                f"{at}: unknown setting(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(HISTORY_KEYS)})"
            )
        channels = item.get("channels")
        if not isinstance(channels, str) or not channels.strip():
            raise ValueError(f"{at}: 'channels' must be a glob on channel names, e.g. \"agent-*\"")
        max_events = item.get("max_events", 500)
        if (
            isinstance(max_events, bool)
            or not isinstance(max_events, int)
            or not 1 <= max_events <= MAX_EVENTS_LIMIT
        ):
            raise ValueError(
                f"{at}: 'max_events' must be a whole number from 1 to {MAX_EVENTS_LIMIT}, "
                f"got {max_events!r}"
            )
        ttl = item.get("ttl", 3600)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ValueError(f"{at}: 'ttl' must be a number of seconds above 0, got {ttl!r}")
        rules.append(HistoryRule(channels, max_events, float(ttl)))
    return tuple(rules)
