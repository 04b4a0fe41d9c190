"""Background coroutines: fire-and-forget tasks kept referenced until done (the loop holds
only weak references), and eager starts that need no task at all when nothing suspends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Generator
from typing import Any

log = logging.getLogger("tidings")
_running: set[asyncio.Future[Any]] = set()


def spawn(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    task = asyncio.ensure_future(coroutine)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Future[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


class _Resume:
    """Awaiting this continues a coroutine that already ran up to its first suspension."""

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_on = self._coroutine, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except BaseException as error:  # cancellation too: hand it to the coroutine
                try:
                    waiting_on = coroutine.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = coroutine.send(sent)
                except StopIteration as done:
                    return done.value


async def _continue(resume: _Resume) -> Any:
    return await resume


def start(coroutine: Coroutine[Any, Any, Any], eager: bool) -> asyncio.Future[Any] | None:
    """Run ``coroutine`` in the background; None when it is already done.

    Eager: it runs now, synchronously, and a task is made only if it suspends. Against the
    in-process hub nothing suspends, so a request or a subscribe costs no task. Only for
    coroutines that need no current task before their first suspension (``asyncio.timeout``
    does, so anything talking to Redis must not start eagerly).
    """
    if not eager:
        return spawn(coroutine)
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return None
    except Exception:
        log.exception("background task failed")
        return None
    return spawn(_continue(_Resume(coroutine, waiting_on)))


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a long-running loop and wait until it has really stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
