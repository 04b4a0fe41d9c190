"""The retry schedule: exponential, jittered, capped, and over when the period is."""

from __future__ import annotations

import math

from tidings.webhooks.retry import RetryPolicy

POLICY = RetryPolicy(period=300.0, base=1.0, cap=60.0)


def test_each_failure_doubles_the_wait_until_the_cap() -> None:
    longest = [POLICY.delay(failures, jitter=0.999999) for failures in range(1, 10)]
    assert [round(wait) for wait in longest] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_jitter_spreads_each_wait_between_half_and_all_of_its_step() -> None:
    for failures in (1, 4, 20):
        step = min(60.0, 2.0 ** (failures - 1))
        assert POLICY.delay(failures, jitter=0.0) == step / 2
        assert step / 2 < POLICY.delay(failures, jitter=0.5) < step


def test_retries_stop_when_the_period_is_over() -> None:
    assert POLICY.next_attempt(first_attempt_at=1000.0, now=1300.0, failures=9, jitter=0.5) is None
    assert POLICY.next_attempt(1000.0, 1299.0, 9, 0.5) == 1300.0  # last try at the very end
    assert POLICY.next_attempt(1000.0, 1001.0, 1, 0.0) == 1001.5


def test_a_whole_period_of_failures_makes_a_bounded_number_of_attempts() -> None:
    now, failures = 0.0, 0
    while (next_at := POLICY.next_attempt(0.0, now, failures + 1, jitter=0.5)) is not None:
        failures += 1
        assert next_at > now
        now = next_at
    assert now == 300.0
    assert 8 <= failures <= 20


def test_huge_failure_counts_and_endless_periods_stay_finite() -> None:
    forever = RetryPolicy(period=math.inf, base=1.0, cap=60.0)
    assert forever.next_attempt(0.0, 1e9, failures=10_000, jitter=1.0) == 1e9 + 60.0
    assert RetryPolicy(period=0.0, base=1.0, cap=60.0).next_attempt(5.0, 5.0, 1, 0.0) is None
