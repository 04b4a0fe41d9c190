"""Rate limiters: ``RateLimiter`` is the interface, ``MemoryRateLimiter`` the embedded driver."""

from tidings.ratelimit.base import Decision, RateLimiter
from tidings.ratelimit.memory import MemoryRateLimiter

__all__ = ["Decision", "MemoryRateLimiter", "RateLimiter"]
