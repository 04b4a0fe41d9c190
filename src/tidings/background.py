"""Fire-and-forget tasks that are kept referenced until done (the loop holds only weak refs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("tidings")
_running: set[asyncio.Future[Any]] = set()


def spawn(coroutine: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.ensure_future(coroutine)
    _running.add(task)
    task.add_done_callback(_finished)


def _finished(task: asyncio.Future[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a long-running loop and wait until it has really stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
