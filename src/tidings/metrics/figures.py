"""What the server counts as it runs: plain integers, bumped inline where things happen.

A counter here is an attribute addition (no lock, no label lookup: prometheus-client's own
``Counter.inc`` costs a lock and a dict lookup per call, which the HTTP API would feel), or
for the one count every API request takes, a ``Tally`` bump, cheaper still. The
figures are turned into Prometheus metric families only when somebody scrapes ``/metrics``
(``tidings.server.metrics``). Counts are per broadcast, per request or per connection, never
per delivered frame: what the fan-out loop does is counted by the hub, once per broadcast.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

# Latency bucket bounds in seconds: an API call here takes tens of microseconds to a few
# milliseconds, far below prometheus-client's default buckets (5 ms and up).
LATENCY_BOUNDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
ABRUPT = 1006  # RFC 6455: the connection ended without a close frame


class Tally:
    """A count bumped by one call into C: ``bump()`` is an ``itertools.count``'s ``__next__``.

    For the HTTP API's path, where every interpreted step shows: a ``+= 1`` on a long-lived
    object measured about 0.35 µs per request in place, ``bump()`` about half of that
    (bench/inprocess.py, a trigger costs ~20 µs there). ``value()`` reads the count by
    bumping once more, and takes its own bumps off.
    """

    __slots__ = ("_reads", "bump")

    def __init__(self) -> None:
        self.bump: Callable[[], int] = itertools.count().__next__
        self._reads = 0

    def value(self) -> int:
        value = self.bump() - self._reads
        self._reads += 1
        return value


@dataclass(slots=True)
class Latencies:
    """One histogram: how many observations fell at or below each bound, and their sum."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.buckets)


@dataclass(slots=True)
class Endpoint:
    """One HTTP API endpoint of one app: its answers by status, and the latency of a sample.

    A 200 is a ``Tally`` bump (the one step every successful request takes); other statuses
    are rare and go to a dict. ``events_per_answer`` is 1 for the endpoints that publish:
    each of their 200s carries its request's first event (see ``AppFigures.api_events``).
    """

    answered: Tally = field(default_factory=Tally)
    failed: dict[int, int] = field(default_factory=dict)
    latency: Latencies = field(default_factory=Latencies)  # timed requests only: see api.base
    events_per_answer: int = 0

    def fail(self, status: int) -> None:
        self.failed[status] = self.failed.get(status, 0) + 1

    def statuses(self) -> dict[int, int]:
        ok = self.answered.value()
        return {200: ok, **self.failed} if ok else dict(self.failed)


@dataclass(slots=True)
class AppFigures:
    """One app's counters; a connection keeps a reference to its app's for its whole life."""

    connections_opened: int = 0
    connections_closed: dict[int, int] = field(default_factory=dict)  # by close code
    connections_refused: dict[int, int] = field(default_factory=dict)  # by close code
    messages_received: int = 0
    bytes_received: int = 0
    replies_sent: int = 0  # frames to one socket (acks, errors); broadcasts are the hub's
    reply_bytes_sent: int = 0
    extra_api_events: int = 0  # those not counted with a 200: see api_events()
    client_events: int = 0
    api_rate_limited: int = 0
    client_events_rate_limited: int = 0
    slow_consumers: int = 0
    subscriptions_refused: int = 0
    endpoints: dict[str, Endpoint] = field(default_factory=lambda: defaultdict(Endpoint))

    def api_events(self) -> int:
        """Events published through the HTTP API (and the console's creator), one per channel:
        the first of each API request is counted with its 200 (one bump for both), the rest
        by ``publish``."""
        first = sum(e.answered.value() * e.events_per_answer for e in self.endpoints.values())
        return first + self.extra_api_events

    def closed(self, code: int | None) -> None:
        code = ABRUPT if code is None else code
        closed = self.connections_closed
        closed[code] = closed.get(code, 0) + 1

    def refused(self, code: int) -> None:
        refused = self.connections_refused
        refused[code] = refused.get(code, 0) + 1


class Figures:
    """Every app's counters. Requests for apps nobody configured count under ``""``: an id
    from the URL would let anyone create label values at will."""

    UNKNOWN_APP = ""

    def __init__(self) -> None:
        self._apps: dict[str, AppFigures] = {}

    def app(self, app_id: str) -> AppFigures:
        figures = self._apps.get(app_id)
        if figures is None:
            figures = self._apps[app_id] = AppFigures()
        return figures

    def apps(self) -> dict[str, AppFigures]:
        return self._apps


class Failures:
    """Things that failed in this process, counted where each is caught."""

    def __init__(self) -> None:
        self.count = 0

    def note(self) -> None:
        self.count += 1


# Kept here, not beside the Redis client, so that reading it needs no Redis library.
redis_round_trip_errors = Failures()
