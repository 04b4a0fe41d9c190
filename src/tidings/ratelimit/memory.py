from __future__ import annotations

import time
from collections.abc import Callable

from tidings.ratelimit.base import Decision


class MemoryRateLimiter:
    """Fixed one-second windows per key, in this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    async def consume(self, key: str, points: int, per_second: int) -> Decision:
        now = self._clock()
        second = int(now)
        window, used = self._windows.get(key, (second, 0))
        if window != second:
            window, used = second, 0
            if len(self._windows) > 10_000:  # old keys are worthless after their second
                self._windows = {
                    k: entry for k, entry in self._windows.items() if entry[0] == second
                }
        retry = (second + 1) - now
        if used + points > per_second:
            self._windows[key] = (window, used)
            return Decision(False, per_second, max(0, per_second - used), retry)
        used += points
        self._windows[key] = (window, used)
        return Decision(True, per_second, per_second - used, retry)
