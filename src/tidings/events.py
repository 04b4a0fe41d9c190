"""The internal event stream: what happened to channels, members and client events.

The hub emits; webhooks, metrics and the debug console observe. Listeners are called inline and
must only record or enqueue, so observing never slows fan-out down.

Beside the hub events, which are what webhooks report, the bus carries ``Activity``: what
happened to connections, subscriptions and webhook deliveries, for observers that are not
webhooks (the debug console). An emitter checks ``EventBus.activity`` once and builds nothing
when it is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class HubEventKind(StrEnum):
    """What happened; each value is also the webhook event's documented name."""

    CHANNEL_OCCUPIED = "channel_occupied"
    CHANNEL_VACATED = "channel_vacated"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    CLIENT_EVENT = "client_event"
    CACHE_MISS = "cache_miss"
    SUBSCRIPTION_COUNT = "subscription_count"

    @property
    def answers(self) -> HubEventKind | None:
        """The departure that this arrival cancels when it comes within the vacate delay."""
        return RETURNS.get(self)

    @property
    def is_departure(self) -> bool:
        """Departures wait for the vacate delay: a quick return makes them no news."""
        return self in DEPARTURES


# Arrival -> the departure it answers: a page reload is a vacate followed by an occupy.
RETURNS = {
    HubEventKind.CHANNEL_OCCUPIED: HubEventKind.CHANNEL_VACATED,
    HubEventKind.MEMBER_ADDED: HubEventKind.MEMBER_REMOVED,
}
DEPARTURES = frozenset(RETURNS.values())


@dataclass(frozen=True, slots=True)
class HubEvent:
    kind: HubEventKind
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


@dataclass(frozen=True, slots=True)
class Published:
    """An event sent to a channel's subscribers: a trigger through the HTTP API or a client
    event. Not a ``HubEvent``: webhooks observe every hub event, and a publish is no webhook.
    Built only when someone observes publishes (``Context.publish_observers``; tidings.testing
    records them), so an unobserved server pays one branch per request or client event."""

    app_id: str
    channel: str
    event: str
    data: Any  # a string from the HTTP API; whatever JSON value a client sent
    socket_id: str | None  # the sender's (client events) or the excluded one (triggers)
    user_id: str | None = None  # the sender on a presence channel
    from_client: bool = False  # a client event rather than an HTTP API trigger


PublishObserver = Callable[[Published], None]


class ActivityKind(StrEnum):
    """Connection, subscription and webhook delivery news; never a webhook of its own."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIPTION_REFUSED = "subscription_refused"
    WEBHOOK_SENT = "webhook_sent"
    WEBHOOK_FAILED = "webhook_failed"


@dataclass(frozen=True, slots=True)
class Activity:
    kind: ActivityKind
    app_id: str
    socket_id: str | None = None
    channel: str | None = None
    # disconnected: the close code (None: the TCP connection ended without a close frame);
    # subscription_refused: the error's status; webhook_*: the number of attempts so far.
    code: int | None = None
    # subscription_refused: why; webhook_*: the receiver's URL, then the error if it failed.
    detail: str | None = None
    data: Any = None  # webhook_*: the events the webhook carried (name and channel each)


ActivityObserver = Callable[[Activity], None]


def tell(observers: list[ActivityObserver], activity: Activity) -> None:
    for observer in observers:
        observer(activity)


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        # Called inline with every Activity; empty unless a console is open. Emitters test it
        # before building anything: ``if bus.activity: tell(bus.activity, Activity(...))``.
        self.activity: list[ActivityObserver] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: HubEvent) -> None:
        for listener in self._listeners:
            listener(event)

    @property
    def observed(self) -> bool:
        return bool(self._listeners)
