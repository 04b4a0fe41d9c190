"""What every request handler shares: config, apps, the hub and this node's connections."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.apps import AppStore
from tidings.config import Config
from tidings.events import EventBus, PublishObserver
from tidings.hub import Adapter
from tidings.metrics.figures import Figures
from tidings.ratelimit import RateLimiter
from tidings.server.addresses import AddressLimits
from tidings.server.outbox import Outbox
from tidings.server.subscription_count import SubscriptionCounts

if TYPE_CHECKING:
    from tidings.server.connection import Connection
    from tidings.webhooks import WebhookService


class SocketIds:
    """``<node>.<counter>``: the random node part keeps ids unique across processes."""

    def __init__(self) -> None:
        self._node = secrets.randbelow(10**9) + 1
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._node}.{next(self._counter)}"


@dataclass(slots=True)
class Context:
    config: Config
    apps: AppStore
    bus: EventBus
    adapter: Adapter
    rate_limiter: RateLimiter
    subscription_counts: SubscriptionCounts
    socket_ids: SocketIds = field(default_factory=SocketIds)
    figures: Figures = field(default_factory=Figures)  # what /metrics reports
    outbox: Outbox = field(default_factory=Outbox)
    connections: dict[str, Connection] = field(default_factory=dict)
    draining: bool = False
    webhooks: WebhookService | None = None
    # Called inline with every published event (tidings.testing's recorder); empty in
    # production, where publishing checks it once per request and builds nothing.
    publish_observers: list[PublishObserver] = field(default_factory=list)
    # Per client address limits; None when none is configured (nothing counted then).
    addresses: AddressLimits | None = None
