"""Rate limiters: fixed one-second windows per key, the same rules in memory and in Redis.

Every shared test runs against both drivers with an injected clock, so a window is whichever
second the test says it is. Redis is a real ``redis-server``; each test gets its own key prefix.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.support.redis_server import RedisServer
from tests.support.server import free_port
from tidings.hub import HubUnavailable
from tidings.ratelimit import Decision, MemoryRateLimiter, RateLimiter
from tidings.ratelimit.redis import RedisRateLimiter

Clock = Callable[[], float]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Driver:
    name: str
    clock: FakeClock
    build: Callable[[Clock | None], RateLimiter]  # None: the driver's own default clock
    real_clock: Clock  # what the default clock reads, to spot a window rolling over

    @property
    def limiter(self) -> RateLimiter:
        return self.build(self.clock)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(params=["memory", "redis"])
def driver(request: pytest.FixtureRequest, prefix: str) -> Driver:
    clock = FakeClock(1_700_000_010.0)
    if request.param == "memory":
        memory = MemoryRateLimiter

        def build_memory(clock: Clock | None) -> RateLimiter:
            return memory() if clock is None else memory(clock=clock)

        return Driver("memory", clock, build_memory, time.monotonic)
    client: Redis = request.getfixturevalue("redis_client")

    def build_redis(clock: Clock | None) -> RateLimiter:
        if clock is None:
            return RedisRateLimiter(client, prefix)
        return RedisRateLimiter(client, prefix, clock=clock)

    return Driver("redis", clock, build_redis, time.time)


async def spend(limiter: RateLimiter, key: str, times: int, per_second: int) -> list[Decision]:
    return [await limiter.consume(key, 1, per_second) for _ in range(times)]


# -- both drivers ---------------------------------------------------------------------------


async def test_points_within_the_budget_are_allowed_and_counted_down(driver: Driver) -> None:
    decisions = await spend(driver.limiter, "k", 3, per_second=3)
    assert [(d.allowed, d.limit, d.remaining) for d in decisions] == [
        (True, 3, 2),
        (True, 3, 1),
        (True, 3, 0),
    ]


async def test_the_point_past_the_budget_is_refused_with_nothing_remaining(
    driver: Driver,
) -> None:
    limiter = driver.limiter
    await spend(limiter, "k", 3, per_second=3)
    refused = await limiter.consume("k", 1, 3)
    assert (refused.allowed, refused.limit, refused.remaining) == (False, 3, 0)


async def test_refused_points_are_not_counted_against_the_budget(driver: Driver) -> None:
    limiter = driver.limiter
    assert (await limiter.consume("k", 3, 5)).remaining == 2
    refused = await limiter.consume("k", 3, 5)
    assert (refused.allowed, refused.remaining) == (False, 2)
    last = await limiter.consume("k", 2, 5)
    assert (last.allowed, last.remaining) == (True, 0)


async def test_more_points_than_the_whole_budget_are_refused_even_in_a_fresh_window(
    driver: Driver,
) -> None:
    limiter = driver.limiter
    refused = await limiter.consume("k", 6, 5)
    assert (refused.allowed, refused.remaining) == (False, 5)
    assert (await limiter.consume("k", 5, 5)).allowed


async def test_windows_are_whole_seconds_not_sliding(driver: Driver) -> None:
    limiter = driver.limiter
    driver.clock.now = 1_700_000_010.9
    await spend(limiter, "k", 2, per_second=2)
    driver.clock.now = 1_700_000_010.999
    assert not (await limiter.consume("k", 1, 2)).allowed
    driver.clock.now = 1_700_000_011.0  # 0.1 s after the budget was spent, but a new second
    fresh = await limiter.consume("k", 1, 2)
    assert (fresh.allowed, fresh.remaining) == (True, 1)


async def test_a_budget_spent_early_in_a_second_stays_spent_until_its_end(driver: Driver) -> None:
    limiter = driver.limiter
    driver.clock.now = 1_700_000_010.0
    await spend(limiter, "k", 2, per_second=2)
    driver.clock.now = 1_700_000_010.5
    assert not (await limiter.consume("k", 1, 2)).allowed
    driver.clock.now = 1_700_000_012.25  # a second was skipped entirely
    assert (await limiter.consume("k", 1, 2)).remaining == 1


async def test_retry_after_is_the_time_left_in_the_current_second(driver: Driver) -> None:
    limiter = driver.limiter
    driver.clock.now = 1_700_000_010.25
    allowed = await limiter.consume("k", 1, 1)
    driver.clock.now = 1_700_000_010.75
    refused = await limiter.consume("k", 1, 1)
    assert allowed.allowed and allowed.retry_after == pytest.approx(0.75)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.25)


async def test_each_key_has_its_own_budget(driver: Driver) -> None:
    limiter = driver.limiter
    await spend(limiter, "alice", 2, per_second=2)
    assert not (await limiter.consume("alice", 1, 2)).allowed
    bob = await limiter.consume("bob", 1, 2)
    assert (bob.allowed, bob.remaining) == (True, 1)


async def test_the_budget_is_whatever_the_caller_passes_for_this_call(driver: Driver) -> None:
    limiter = driver.limiter
    await spend(limiter, "k", 2, per_second=2)
    assert not (await limiter.consume("k", 1, 2)).allowed
    raised = await limiter.consume("k", 1, 3)  # the app's limit was raised mid-second
    assert (raised.allowed, raised.limit, raised.remaining) == (True, 3, 0)


async def test_with_its_default_clock_the_point_past_the_budget_is_refused(
    driver: Driver,
) -> None:
    limiter = driver.build(None)
    for attempt in range(5):
        key = f"real-{attempt}"
        started = driver.real_clock()
        decisions = await spend(limiter, key, 4, per_second=3)
        if int(driver.real_clock()) != int(started):
            continue  # the burst straddled two windows: try again in the new one
        assert [d.allowed for d in decisions] == [True, True, True, False]
        window_end = int(started) + 1
        for decision in decisions:
            assert 0 < decision.retry_after <= 1
            assert started + decision.retry_after == pytest.approx(window_end, abs=0.5)
        return
    pytest.fail("every burst straddled a second boundary")


# -- memory only ----------------------------------------------------------------------------


async def test_a_spent_budget_survives_the_sweep_of_stale_windows() -> None:
    clock = FakeClock(10.5)
    limiter = MemoryRateLimiter(clock=clock)
    for index in range(10_001):
        await limiter.consume(f"old-{index}", 1, 5)
    clock.now = 11.1
    await spend(limiter, "busy", 5, per_second=5)
    assert not (await limiter.consume("busy", 1, 5)).allowed
    await limiter.consume("old-0", 1, 5)  # a stale window: triggers the sweep
    assert not (await limiter.consume("busy", 1, 5)).allowed


async def test_the_memory_limiter_keeps_working_after_sweeping_many_stale_keys() -> None:
    clock = FakeClock(10.5)
    limiter = MemoryRateLimiter(clock=clock)
    for index in range(10_001):
        await limiter.consume(f"old-{index}", 1, 5)
    clock.now = 11.1
    assert (await limiter.consume("old-0", 1, 5)).remaining == 4  # new second, full budget
    assert (await limiter.consume("old-0", 1, 5)).remaining == 3  # survived its own sweep
    await spend(limiter, "fresh", 5, per_second=5)
    assert not (await limiter.consume("fresh", 1, 5)).allowed


# -- redis only -----------------------------------------------------------------------------


async def test_limiters_sharing_a_redis_prefix_share_each_keys_budget(
    redis_client: Redis, prefix: str
) -> None:
    clock = FakeClock(1_700_000_010.5)
    node_a = RedisRateLimiter(redis_client, prefix, clock=clock)
    node_b = RedisRateLimiter(redis_client, prefix, clock=clock)
    await spend(node_a, "k", 2, per_second=3)
    assert (await node_b.consume("k", 1, 3)).remaining == 0
    assert not (await node_a.consume("k", 1, 3)).allowed


async def test_limiters_with_different_redis_prefixes_do_not_share_budgets(
    redis_client: Redis, prefix: str
) -> None:
    clock = FakeClock(1_700_000_010.5)
    mine = RedisRateLimiter(redis_client, prefix, clock=clock)
    theirs = RedisRateLimiter(redis_client, prefix + "-other", clock=clock)
    await spend(mine, "k", 2, per_second=2)
    assert (await theirs.consume("k", 1, 2)).remaining == 1


async def test_a_redis_window_counter_expires_within_two_seconds(
    redis_client: Redis, prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, prefix, clock=FakeClock(1_700_000_010.5))
    await spend(limiter, "k", 2, per_second=5)
    counter = f"{prefix}:rl:k:1700000010"
    assert await redis_client.get(counter) == b"2"
    assert 0 < await redis_client.pttl(counter) <= 2000


async def test_a_consume_refused_in_a_fresh_window_leaves_no_redis_key(
    redis_client: Redis, prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, prefix, clock=FakeClock(1_700_000_010.5))
    assert not (await limiter.consume("k", 9, 5)).allowed
    assert await redis_client.keys(f"{prefix}:*") == []


async def test_an_unreachable_redis_is_reported_as_hub_unavailable(prefix: str) -> None:
    client = Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0",
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        limiter = RedisRateLimiter(client, prefix)
        with pytest.raises(HubUnavailable, match="Redis is unreachable"):
            await limiter.consume("k", 1, 5)
    finally:
        await client.aclose()
