"""Limits per client address: open sockets, and new sockets per second.

Both answer 4100, which pusher-js takes as "over capacity, retry in a second", so a client
over a limit keeps trying at a gentle pace and gets in once there is room. State is kept only
for addresses that hold sockets or connected within the last second: nothing per socket, and an
address's entry goes when its last socket closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tidings.config import ServerSettings
from tidings.net.http import SocketHandler


def address_limits(server: ServerSettings) -> AddressLimits | None:
    """The limits the settings ask for; None (nothing counted at all) when they ask none."""
    if server.max_connections_per_ip <= 0 and server.max_new_connections_per_ip_per_sec <= 0:
        return None
    return AddressLimits(
        server.max_connections_per_ip, server.max_new_connections_per_ip_per_sec, time.monotonic
    )


class AddressLimits:
    def __init__(self, max_open: int, new_per_sec: int, clock: Callable[[], float]) -> None:
        self.max_open = max_open
        self.new_per_sec = new_per_sec
        self._clock = clock
        self.open: dict[str, int] = {}  # addresses with sockets: how many
        # Token buckets, one second's worth deep: (tokens, when last counted).
        self._buckets: dict[str, tuple[float, float]] = {}
        self._purged = 0.0

    @property
    def counting(self) -> bool:
        return self.max_open > 0

    def too_fast(self, address: str) -> bool:
        """Count a connection attempt; True when ``address`` is over its rate."""
        rate = self.new_per_sec
        if rate <= 0:
            return False
        now = self._clock()
        if now - self._purged > 1.0:
            self._purge(now)
        tokens, last = self._buckets.get(address, (float(rate), now))
        tokens = min(float(rate), tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return True
        self._buckets[address] = (tokens - 1.0, now)
        return False

    def _purge(self, now: float) -> None:
        """Forget buckets that have filled up again: absent means full."""
        self._purged = now
        rate = self.new_per_sec
        buckets = self._buckets
        full = [a for a, (tokens, last) in buckets.items() if tokens + (now - last) * rate >= rate]
        for address in full:
            del self._buckets[address]

    def full(self, address: str) -> bool:
        return 0 < self.max_open <= self.open.get(address, 0)

    def hold(self, address: str, handler: SocketHandler) -> SocketHandler:
        """Count ``handler``'s socket against ``address`` until it closes."""
        self.open[address] = self.open.get(address, 0) + 1
        return _Held(self, address, handler)

    def release(self, address: str) -> None:
        left = self.open.get(address, 0) - 1
        if left > 0:
            self.open[address] = left
        else:
            self.open.pop(address, None)


class _Held:
    """A socket's handler that gives its address's place back when the socket closes."""

    __slots__ = ("_address", "_handler", "_limits")

    def __init__(self, limits: AddressLimits, address: str, handler: SocketHandler) -> None:
        self._limits = limits
        self._address = address
        self._handler = handler

    def message(self, text: str) -> None:
        self._handler.message(text)

    def binary(self, data: bytes) -> None:
        self._handler.binary(data)

    def closed(self) -> None:
        self._limits.release(self._address)
        self._handler.closed()
