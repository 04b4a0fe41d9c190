"""The assistant a workflow run asks for its reply: a small interface and a built-in stand-in.

To plug in a real model, write a class with an async-generator ``reply(message)`` that yields
the answer in parts as they are produced (for example, the chunks of a streaming completion)
and pass it to ``build_app(assistant=...)``. Each yielded part becomes one ``agent-message``
event, so the browser sees the answer grow while the model is still writing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol


class Assistant(Protocol):
    def reply(self, message: str) -> AsyncIterator[str]:
        """The reply to ``message``, in the order its parts should be shown."""
        ...


class ScriptedAssistant:
    """Deterministic: the same message always gives the same three parts (demo and tests)."""

    def __init__(self, pause: float = 0.15) -> None:
        # A short pause between parts so a person watching the page sees them stream in.
        self.pause = pause

    async def reply(self, message: str) -> AsyncIterator[str]:
        words = len(message.split())
        parts = (
            f"You said: \u201c{message}\u201d.",
            f"That is {words} word{'s' if words != 1 else ''} and {len(message)} characters.",
            "Each part of this reply reached you as its own agent-message event.",
        )
        for index, part in enumerate(parts):
            if index and self.pause:
                await asyncio.sleep(self.pause)
            yield part
