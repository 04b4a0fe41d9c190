"""Per-address bookkeeping: a token bucket per address for new sockets, a count of open ones,
and nothing left behind for an address once its sockets are closed and its bucket is full."""

from __future__ import annotations

from tidings.server.addresses import AddressLimits


class Handler:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def message(self, text: str) -> None:
        self.seen.append(text)

    def binary(self, data: bytes) -> None:
        self.seen.append(data.decode())

    def closed(self) -> None:
        self.seen.append("closed")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_second_s_worth_at_once_then_the_rate_per_address() -> None:
    clock = Clock()
    limits = AddressLimits(-1, 4, clock)
    assert [limits.too_fast("a") for _ in range(5)] == [False] * 4 + [True]
    assert not limits.too_fast("b")  # its own bucket
    clock.now += 0.25  # one more token
    assert [limits.too_fast("a") for _ in range(2)] == [False, True]
    clock.now += 5
    assert limits.too_fast("c") is False  # the purge runs: full buckets are dropped
    assert set(limits._buckets) == {"c"}


def test_open_sockets_are_counted_until_closed_and_the_entry_goes() -> None:
    limits = AddressLimits(2, -1, Clock())
    first, second = Handler(), Handler()
    held = [limits.hold("a", first), limits.hold("a", second)]
    assert limits.full("a") and not limits.full("b")
    held[0].message("hello")
    held[0].binary(b"bytes")
    held[0].closed()
    assert first.seen == ["hello", "bytes", "closed"]
    assert not limits.full("a")
    held[1].closed()
    assert limits.open == {}
    assert not limits.too_fast("a")  # no rate configured
