"""How every tidings command runs its coroutine: on uvloop where it is installed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def run_async(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed: it speeds up the HTTP API and socket I/O."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)
