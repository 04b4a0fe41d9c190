"""The adapter interface: the state a cluster of tidings nodes shares.

Each driver keeps its node's own sockets and writes to them synchronously (frame once, same
bytes to every socket); what it shares with other nodes is the driver's business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tidings.apps import App
from tidings.apps.history import HistoryRule
from tidings.events import EventBus, HubEvent
from tidings.hub.history import HistoryPage
from tidings.protocol import messages
from tidings.protocol.presence import Member
from tidings.unavailable import HubUnavailable

if TYPE_CHECKING:
    from tidings.hub.local import LocalSockets

__all__ = ["Adapter", "ChannelStats", "HubUnavailable", "Joined", "Outgoing", "Subscriber"]

# A departure mark outlives the webhook vacate delay by this much, so a late timer still finds
# it; past that it expires, so a mark nobody claims or confirms cannot pile up.
DEPARTURE_MARGIN = 10.0


def departure_ttl(vacate_delay: float) -> float:
    """Seconds a departure mark lives; 0 (no marks at all) when departures are not delayed."""
    return vacate_delay + DEPARTURE_MARGIN if vacate_delay > 0 else 0.0


# One message for publish_many: channel, encoded payload, socket_id to leave out.
Outgoing = tuple[str, bytes, str | None]


class Subscriber(Protocol):
    """A live connection as the hub sees it."""

    socket_id: str
    app: App

    def send(self, frame: bytes) -> None:
        """Write an already framed WebSocket message; never blocks, never awaits."""

    def terminate(self, code: int, message: str) -> None:
        """Send ``pusher:error`` with ``code`` and close the socket with it."""


@dataclass(frozen=True, slots=True)
class Joined:
    subscription_count: int
    members: dict[str, Any] | None  # presence: user_id -> user_info, including the joiner


@dataclass(frozen=True, slots=True)
class ChannelStats:
    subscription_count: int
    user_count: int | None  # presence channels only


class Adapter(ABC):
    # True when no call ever suspends (all state in this process): callers may then run hub
    # calls eagerly, without a task each.
    in_process: bool = False

    def __init__(self, bus: EventBus) -> None:
        from tidings.hub.local import LocalSockets

        self.bus = bus
        # This node's sockets: every driver's last hop, and what metrics count.
        self._local = LocalSockets()

    @property
    def local(self) -> LocalSockets:
        return self._local

    def node_count(self) -> int | None:
        """How many nodes share this state, when the driver shares it with others."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to shared state, if the driver has any."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release shared state, if the driver has any."""

    def ready(self) -> bool:
        """Whether shared state is reachable, for ``/ready``."""
        return True

    @abstractmethod
    async def add_connection(self, conn: Subscriber) -> bool:
        """Count a new connection; False when the app is at ``max_connections``."""

    @abstractmethod
    async def remove_connection(
        self, conn: Subscriber, subscriptions: dict[str, Member | None], user_id: str | None
    ) -> None:
        """Forget a closed connection: its subscriptions, presence, sign-in and count."""

    @abstractmethod
    async def subscribe(self, conn: Subscriber, channel: str, member: Member | None) -> Joined:
        """Add ``conn`` to ``channel``; raises SubscriptionError when a limit refuses it. A
        repeated subscribe of the same socket changes nothing and answers the same."""

    @abstractmethod
    async def unsubscribe(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        """Remove ``conn`` from ``channel``; returns the remaining subscription count."""

    @abstractmethod
    async def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        """Deliver an encoded message to every subscriber of ``channel``, cluster-wide."""

    async def publish_many(self, app_id: str, outgoing: list[Outgoing]) -> None:
        """Deliver several messages, in order. Drivers with a network hop send them together."""
        for channel, payload, except_socket_id in outgoing:
            await self.publish(app_id, channel, payload, except_socket_id)

    async def announce_subscription_count(self, app_id: str, channel: str) -> int:
        """Send ``channel``'s current subscription count to its subscribers; return it.

        Drivers shared by several nodes must read and send in one atomic step: announcements
        from two nodes could otherwise arrive in the opposite order and leave a stale count.
        """
        count = (await self.channel(app_id, channel)).subscription_count
        if count:
            await self.publish(app_id, channel, messages.subscription_count(channel, count))
        return count

    @abstractmethod
    async def publish_history(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        payload: bytes,
        except_socket_id: str | None = None,
    ) -> None:
        """Keep an event in ``channel``'s history and deliver it, stamped with its serial and
        epoch, to every subscriber cluster-wide. Serials are assigned in the order every node
        delivers them (docs/history.md)."""

    @abstractmethod
    async def history(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        after: int,
        limit: int,
        epoch: str | None = None,
    ) -> HistoryPage:
        """The kept events with serial > ``after`` (at most ``limit``), the epoch and the
        latest serial; ``epoch`` other than the current one makes the page start from the
        oldest kept event and say it is incomplete. ``limit`` 0 reads only the epoch and the
        latest serial (what a subscription is told), at no cost per kept event."""

    @abstractmethod
    async def send_to_user(self, app_id: str, user_id: str, payload: bytes) -> None:
        """Deliver an encoded message to every connection signed in as ``user_id``."""

    @abstractmethod
    async def sign_in(
        self, conn: Subscriber, user_id: str, watchlist: tuple[str, ...]
    ) -> dict[str, bool]:
        """Record a signed-in connection; returns online status of each watched user."""

    @abstractmethod
    async def terminate_user(self, app_id: str, user_id: str) -> None:
        """Close every connection signed in as ``user_id``."""

    @abstractmethod
    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        """Every occupied channel of the app."""

    @abstractmethod
    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        """One channel's counts (zero when unoccupied)."""

    @abstractmethod
    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        """A presence channel's distinct users: user_id -> user_info."""

    @abstractmethod
    async def cache_get(self, app_id: str, channel: str) -> tuple[bytes, float] | None:
        """The cached last event of a cache channel and its seconds to live."""

    @abstractmethod
    async def cache_set(self, app_id: str, channel: str, payload: bytes, ttl: float) -> None:
        """Remember the last event of a cache channel for ``ttl`` seconds."""

    @abstractmethod
    async def confirm_departures(self, departures: Sequence[HubEvent]) -> list[bool]:
        """Claim the marks of delayed ``channel_vacated`` / ``member_removed`` events whose
        webhook delay is over: True for each still marked (nobody came back: report it), False
        where a return on any node claimed the mark first (and was itself not reported).

        Marks are what makes the reconnect window hold across a cluster: emitting a departure
        for an app with webhooks records one for (app, channel, user) that lives
        ``departure_ttl`` seconds, and deciding a ``channel_occupied`` / ``member_added``
        atomically claims the matching one and sets ``HubEvent.returned``. Claim and
        confirmation each delete the mark, so exactly one of them wins. Without marks
        (delay 0) everything is confirmed. Raises HubUnavailable when the marks are out of reach.
        """

    @abstractmethod
    def connection_count(self) -> int:
        """Connections held by this node."""
