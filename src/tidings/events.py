"""The internal event stream: what happened to channels, members and client events.

The hub emits; webhooks, metrics and the debug console observe. Listeners are called inline and
must only record or enqueue, so observing never slows fan-out down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HubEvent:
    name: str  # a webhook event name: channel_occupied, member_added, client_event, ...
    app_id: str
    channel: str
    user_id: str | None = None
    event: str | None = None
    data: Any = None
    socket_id: str | None = None
    subscription_count: int | None = None
    # channel_occupied / member_added only: the same channel or user left within the webhook
    # vacate delay (anywhere in the cluster), so neither the departure nor this is news.
    returned: bool = False


Listener = Callable[[HubEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: HubEvent) -> None:
        for listener in self._listeners:
            listener(event)

    @property
    def observed(self) -> bool:
        return bool(self._listeners)
