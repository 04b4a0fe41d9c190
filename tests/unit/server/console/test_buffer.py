from __future__ import annotations

import pytest

from tidings.server.console.buffer import DropBuffer


def test_items_come_out_oldest_first_and_the_buffer_empties() -> None:
    buffer: DropBuffer[int] = DropBuffer(3)
    for item in (1, 2):
        assert buffer.add(item)

    assert buffer.take() == ([1, 2], 0)
    assert buffer.take() == ([], 0)
    assert len(buffer) == 0


def test_past_capacity_new_items_are_dropped_and_counted() -> None:
    buffer: DropBuffer[int] = DropBuffer(2)

    added = [buffer.add(item) for item in range(5)]

    assert added == [True, True, False, False, False]
    assert len(buffer) == 2
    assert buffer.take() == ([0, 1], 3)
    assert buffer.add(9)  # room again, and the count starts over
    assert buffer.take() == ([9], 0)


def test_a_buffer_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError):
        DropBuffer(0)
