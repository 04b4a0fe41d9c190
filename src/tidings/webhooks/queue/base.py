"""The durable webhook queue: the interface every driver (SQLite now, Redis later) implements.

A webhook is pushed before the hub event counts as handed off and deleted only after a 2xx, so
delivery is at least once: a crash between the receiver's 2xx and the delete sends it again.
Pending rows carry their next attempt time; dead letters are rows whose retry period ran out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NewWebhook:
    app_id: str
    url: str
    headers: tuple[tuple[str, str], ...]  # the target's own headers; signing headers are added
    body: bytes  # exactly the bytes that are signed and posted
    created_at: float  # Unix time of the batch: its time_ms, and the start of the retry period


@dataclass(frozen=True, slots=True)
class QueuedWebhook:
    id: int
    webhook: NewWebhook
    attempts: int
    next_attempt_at: float
    failed_at: float | None  # set once dead-lettered
    last_error: str | None


class WebhookQueue(Protocol):
    @property
    def pending_count(self) -> int: ...

    @property
    def dead_count(self) -> int: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def push(self, webhooks: Sequence[NewWebhook]) -> None:
        """Store all of them durably (one transaction) before returning."""

    async def due(self, now: float, limit: int, lease: float) -> list[QueuedWebhook]:
        """Claim pending webhooks due at ``now`` (oldest first) for ``lease`` seconds, so no
        other process sharing the queue attempts them meanwhile."""

    async def next_due_at(self) -> float | None:
        """When the next pending webhook becomes due (or its claim runs out)."""

    async def delivered(self, webhook_id: int) -> None: ...

    async def retry_later(
        self, webhook_id: int, attempts: int, next_attempt_at: float, error: str
    ) -> None: ...

    async def dead_letter(self, webhook_id: int, attempts: int, error: str, now: float) -> None: ...

    async def dead_letters(self, ids: Collection[int] | None = None) -> list[QueuedWebhook]:
        """Dead letters (all, or those with the given ids), oldest first."""
