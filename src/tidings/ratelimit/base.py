from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float


class RateLimiter(Protocol):
    async def consume(self, key: str, points: int, per_second: int) -> Decision:
        """Take ``points`` from ``key``'s budget of ``per_second`` for the current second."""
