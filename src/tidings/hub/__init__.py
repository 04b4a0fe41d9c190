"""Who is subscribed where, presence, users, the cache, and fan-out.

``Adapter`` is the interface; ``MemoryAdapter`` the embedded single-process driver.
"""

from tidings.hub.base import Adapter, ChannelStats, HubUnavailable, Joined, Subscriber
from tidings.hub.memory import MemoryAdapter

__all__ = ["Adapter", "ChannelStats", "HubUnavailable", "Joined", "MemoryAdapter", "Subscriber"]
