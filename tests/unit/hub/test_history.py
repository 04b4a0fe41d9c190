"""The embedded history store: serials, epochs, bounds by count and by age, completeness."""

from __future__ import annotations

import orjson

from tidings.apps.history import HistoryRule
from tidings.hub.history import MemoryHistory
from tidings.protocol import messages

RULE = HistoryRule("agent-*", max_events=3, ttl=10.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def event(n: int) -> bytes:
    return messages.event("agent-message", "agent-1", orjson.dumps({"n": n}).decode())


def serials(store: MemoryHistory, after: int = 0, epoch: str | None = None) -> list[int]:
    page = store.read("1", "agent-1", RULE, after, 100, epoch)
    return [entry.serial for entry in page.entries]


def test_events_get_increasing_serials_and_the_payload_carries_them() -> None:
    store = MemoryHistory(Clock())
    stamped = [orjson.loads(store.append("1", "agent-1", RULE, event(n), None)) for n in (1, 2)]
    assert [m["serial"] for m in stamped] == [1, 2]
    assert stamped[0]["epoch"] == stamped[1]["epoch"]
    assert stamped[0]["data"] == '{"n":1}'
    page = store.read("1", "agent-1", RULE, 0, 100)
    assert (page.epoch, page.last, page.complete) == (stamped[0]["epoch"], 2, True)
    assert orjson.loads(page.entries[1].payload) == stamped[1]


def test_a_channel_with_no_events_still_has_an_epoch_that_its_first_event_keeps() -> None:
    store = MemoryHistory(Clock())
    empty = store.read("1", "agent-1", RULE, 0, 0)
    assert (empty.last, empty.complete, empty.entries) == (0, True, [])
    first = orjson.loads(store.append("1", "agent-1", RULE, event(1), None))
    assert first["epoch"] == empty.epoch


def test_reading_after_a_serial_returns_only_later_events_up_to_the_limit() -> None:
    store = MemoryHistory(Clock())
    for n in range(3):
        store.append("1", "agent-1", RULE, event(n), None)
    assert serials(store, after=1) == [2, 3]
    assert serials(store, after=3) == []
    page = store.read("1", "agent-1", RULE, 0, 2)
    assert [e.serial for e in page.entries] == [1, 2]
    assert page.complete and page.last == 3


def test_beyond_max_events_the_oldest_go_and_the_page_says_incomplete() -> None:
    store = MemoryHistory(Clock())
    for n in range(5):
        store.append("1", "agent-1", RULE, event(n), None)
    page = store.read("1", "agent-1", RULE, 0, 100)
    assert [e.serial for e in page.entries] == [3, 4, 5]
    assert not page.complete
    assert store.read("1", "agent-1", RULE, 2, 100).complete  # 3.. are all kept
    assert not store.read("1", "agent-1", RULE, 1, 100).complete  # 2 is gone


def test_events_older_than_ttl_are_dropped_and_the_page_says_incomplete() -> None:
    clock = Clock()
    store = MemoryHistory(clock)
    store.append("1", "agent-1", RULE, event(1), None)
    clock.now += 6
    store.append("1", "agent-1", RULE, event(2), None)
    clock.now += 5  # the first is 11 s old, the second 5 s
    page = store.read("1", "agent-1", RULE, 0, 100)
    assert [e.serial for e in page.entries] == [2]
    assert not page.complete
    assert store.read("1", "agent-1", RULE, 1, 100).complete


def test_a_channel_idle_past_ttl_is_released_and_restarts_with_a_new_epoch() -> None:
    clock = Clock()
    store = MemoryHistory(clock)
    old = orjson.loads(store.append("1", "agent-1", RULE, event(1), None))["epoch"]
    clock.now += 10
    page = store.read("1", "agent-1", RULE, 1, 100, old)
    assert page.epoch != old
    assert (page.last, page.complete) == (0, False)
    again = orjson.loads(store.append("1", "agent-1", RULE, event(2), None))
    assert (again["serial"], again["epoch"]) == (1, page.epoch)


def test_an_unknown_epoch_replays_everything_kept_as_incomplete() -> None:
    store = MemoryHistory(Clock())
    for n in range(2):
        store.append("1", "agent-1", RULE, event(n), None)
    page = store.read("1", "agent-1", RULE, 2, 100, "a-previous-life")
    assert [e.serial for e in page.entries] == [1, 2]
    assert not page.complete
    current = store.read("1", "agent-1", RULE, 2, 100, page.epoch)
    assert current.complete and current.entries == []


def test_separate_stores_have_separate_epochs_as_after_a_restart() -> None:
    before, after = MemoryHistory(Clock()), MemoryHistory(Clock())
    assert (
        before.read("1", "agent-1", RULE, 0, 0).epoch
        != after.read("1", "agent-1", RULE, 0, 0).epoch
    )


def test_channels_and_apps_do_not_share_serials() -> None:
    store = MemoryHistory(Clock())
    store.append("1", "agent-1", RULE, event(1), None)
    store.append("1", "agent-2", RULE, event(1), None)
    store.append("2", "agent-1", RULE, event(1), None)
    assert [
        store.read(a, c, RULE, 0, 9).last
        for a, c in [("1", "agent-1"), ("1", "agent-2"), ("2", "agent-1")]
    ] == [1, 1, 1]


def test_idle_channels_are_released_by_the_sweep_without_being_read() -> None:
    clock = Clock()
    store = MemoryHistory(clock)
    for n in range(1024):
        store.append("1", f"agent-{n}", RULE, event(n), None)
    clock.now += 11
    store.append("1", "agent-new", RULE, event(0), None)
    assert store.channels() == 1
