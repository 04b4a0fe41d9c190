"""When to try a failed webhook again: exponential backoff with jitter, for a bounded period."""

from __future__ import annotations

from dataclasses import dataclass

# 2**60 seconds is beyond any cap; bounding the exponent keeps the float arithmetic finite.
_MAX_EXPONENT = 60


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    period: float  # seconds after the first attempt during which we keep trying; inf = forever
    base: float  # delay before the first retry, doubled for each later one
    cap: float  # no single wait is longer than this

    def delay(self, failures: int, jitter: float) -> float:
        """Wait after ``failures`` failed attempts; ``jitter`` in [0, 1) spreads retries out
        (equal jitter: between half and all of the exponential step) so that receivers coming
        back up are not hit by every queued batch at the same instant."""
        step = min(self.cap, self.base * 2.0 ** min(failures - 1, _MAX_EXPONENT))
        return step / 2 + step / 2 * jitter

    def next_attempt(
        self, first_attempt_at: float, now: float, failures: int, jitter: float
    ) -> float | None:
        """When to try again, or None once the period is over (the batch is dead-lettered).
        The last retry is pulled in to the end of the period rather than skipped."""
        deadline = first_attempt_at + self.period
        if now >= deadline:
            return None
        return min(now + self.delay(failures, jitter), deadline)
