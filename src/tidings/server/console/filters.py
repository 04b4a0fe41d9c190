"""What a console asked to see: one app, optionally a channel prefix and some kinds of news."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.events import Activity, ActivityKind, Published

API_MESSAGE = "api_message"
CLIENT_EVENT = "client_event"
# In the order the page lists them.
KINDS: tuple[str, ...] = (
    ActivityKind.CONNECTED.value,
    ActivityKind.DISCONNECTED.value,
    ActivityKind.SUBSCRIBED.value,
    ActivityKind.UNSUBSCRIBED.value,
    ActivityKind.SUBSCRIPTION_REFUSED.value,
    API_MESSAGE,
    CLIENT_EVENT,
    ActivityKind.WEBHOOK_SENT.value,
    ActivityKind.WEBHOOK_FAILED.value,
)
_KNOWN = frozenset(KINDS)

News = Activity | Published


def kind_of(news: News) -> str:
    if isinstance(news, Published):
        return CLIENT_EVENT if news.from_client else API_MESSAGE
    return news.kind.value


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    app_id: str
    # With a prefix, only news about a channel starting with it (connections have no channel).
    prefix: str = ""
    kinds: frozenset[str] = _KNOWN

    def matches(self, news: News) -> bool:
        if news.app_id != self.app_id or kind_of(news) not in self.kinds:
            return False
        if not self.prefix:
            return True
        channel = news.channel
        return channel is not None and channel.startswith(self.prefix)

    def changed(self, request: Any) -> ActivityFilter:
        """This filter with a page's ``{"prefix": "...", "kinds": [...]}``; ValueError says what
        is wrong with a bad one."""
        if not isinstance(request, dict):
            raise ValueError('a filter is an object: {"prefix": "...", "kinds": [...]}')
        prefix = request.get("prefix", "")
        if not isinstance(prefix, str):
            raise ValueError("'prefix' must be a string")
        kinds = request.get("kinds", list(KINDS))
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise ValueError("'kinds' must be a list of strings")
        unknown = sorted(set(kinds) - _KNOWN)
        if unknown:
            raise ValueError(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return ActivityFilter(self.app_id, prefix, frozenset(kinds))
