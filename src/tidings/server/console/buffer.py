"""A console's bounded backlog: news waits here until the browser takes it.

Observers append inline, from fan-out itself, so adding must never block or grow without
bound: past ``capacity`` new items are dropped and counted, and the page is told how many.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class DropBuffer(Generic[T]):
    __slots__ = ("_items", "capacity", "dropped")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: list[T] = []
        self.dropped = 0  # since the last take()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> bool:
        """Keep ``item`` unless full; False (and one more dropped) when it was dropped."""
        if len(self._items) >= self.capacity:
            self.dropped += 1
            return False
        self._items.append(item)
        return True

    def take(self) -> tuple[list[T], int]:
        """Everything kept, oldest first, and how many were dropped since the last take."""
        items, dropped = self._items, self.dropped
        self._items, self.dropped = [], 0
        return items, dropped
