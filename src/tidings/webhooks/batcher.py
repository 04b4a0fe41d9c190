"""From hub events to per-app, per-target batches: pure, driven by the caller's clock.

Rules (docs/webhooks.md):
- each target sees only its event types and channel prefix; batches never mix apps or targets;
- ``channel_vacated`` / ``member_removed`` wait ``vacate_delay``; a matching ``channel_occupied``
  / ``member_added`` inside that delay cancels both, so a page reload produces no webhook. In a
  cluster the return may happen on another node: the hub marks such an arrival ``returned``
  (it is dropped here), and a departure whose delay is over comes back from ``departures_due``
  for the caller to confirm with the hub before ``route`` puts it into a batch;
- a batch closes ``window`` seconds after its first event, or at ``max_events``;
- within a batch a newer ``subscription_count`` for a channel replaces the older one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.apps import App, WebhookTarget
from tidings.events import HubEvent, HubEventKind
from tidings.webhooks.payload import event_body


@dataclass(frozen=True, slots=True)
class Batch:
    app_id: str
    target: WebhookTarget
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Departure:
    """A delayed ``channel_vacated`` / ``member_removed`` whose delay is over."""

    app: App
    event: HubEvent


@dataclass(slots=True)
class _Open:
    opened_at: float
    events: list[dict[str, Any]] = field(default_factory=list)


def accepts(target: WebhookTarget, event: HubEvent) -> bool:
    if target.event_types and event.kind not in target.event_types:
        return False
    return event.channel.startswith(target.channel_prefix)


class Batcher:
    def __init__(self, window: float, max_events: int | None, vacate_delay: float) -> None:
        self._window = window
        self._max_events = max_events
        self._vacate_delay = vacate_delay
        # Both dicts are in deadline order: entries are appended with a deadline of now plus a
        # constant, so the first entry is always the next one due.
        self._delayed: dict[tuple[str, HubEventKind, str, str | None], tuple[float, Departure]] = {}
        self._open: dict[tuple[str, WebhookTarget], _Open] = {}

    def __len__(self) -> int:
        """Events accepted and not yet handed out in a batch."""
        return len(self._delayed) + sum(len(batch.events) for batch in self._open.values())

    def add(self, app: App, event: HubEvent, now: float) -> list[Batch]:
        """Take one event; return the batches it filled up."""
        if not app.webhooks:
            return []
        cancels = event.kind.answers
        if cancels is not None:
            pending = (app.id, cancels, event.channel, event.user_id)
            # Popped even when the hub says so too: the return is answered here and now.
            if self._delayed.pop(pending, None) is not None or event.returned:
                return []
        if event.kind.is_departure and self._vacate_delay > 0:
            key = (app.id, event.kind, event.channel, event.user_id)
            self._delayed.pop(key, None)
            self._delayed[key] = (now + self._vacate_delay, Departure(app, event))
            return []
        return self._route(app, event, now)

    def departures_due(self, now: float) -> list[Departure]:
        """Hand out the delayed events whose delay is over; ``route`` those still to be sent."""
        released: list[Departure] = []
        while self._delayed:
            delayed_key, (release_at, departure) = next(iter(self._delayed.items()))
            if release_at > now:
                break
            del self._delayed[delayed_key]
            released.append(departure)
        return released

    def route(self, departure: Departure, now: float) -> list[Batch]:
        """Put a confirmed departure into its batches; return the batches it filled up."""
        return self._route(departure.app, departure.event, now)

    def due(self, now: float) -> list[Batch]:
        """Close the batches whose window is over."""
        ready: list[Batch] = []
        while self._open:
            (app_id, target), batch = next(iter(self._open.items()))
            if batch.opened_at + self._window > now:
                break
            del self._open[app_id, target]
            ready.append(Batch(app_id, target, tuple(batch.events)))
        return ready

    def next_deadline(self) -> float | None:
        deadlines = []
        if self._delayed:
            deadlines.append(next(iter(self._delayed.values()))[0])
        if self._open:
            deadlines.append(next(iter(self._open.values())).opened_at + self._window)
        return min(deadlines, default=None)

    def drain(self) -> list[Batch]:
        """Every open batch now, for shutdown (take ``departures_due(inf)`` first)."""
        return self.due(float("inf"))

    def _route(self, app: App, event: HubEvent, now: float) -> list[Batch]:
        ready = []
        body: dict[str, Any] | None = None
        for target in app.webhooks:
            if not accepts(target, event):
                continue
            body = body or event_body(event)
            key = (app.id, target)
            batch = self._open.get(key)
            if batch is None:
                batch = self._open[key] = _Open(now)
            if event.kind is HubEventKind.SUBSCRIPTION_COUNT:
                _drop_older_count(batch.events, event.channel)
            batch.events.append(body)
            if self._max_events is not None and len(batch.events) >= self._max_events:
                del self._open[key]
                ready.append(Batch(app.id, target, tuple(batch.events)))
        return ready


def _drop_older_count(events: list[dict[str, Any]], channel: str) -> None:
    for index, earlier in enumerate(events):
        if earlier["name"] == HubEventKind.SUBSCRIPTION_COUNT and earlier["channel"] == channel:
            del events[index]
            return
