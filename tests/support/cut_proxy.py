"""A TCP proxy in front of a tidings server whose network a test can cut and restore.

``cut()`` aborts every proxied connection (both sides, no close frame: a phone leaving
coverage) and holds new ones unanswered until ``restore()``, when they go through. pusher-js
behind it loses its socket, retries, and reconnects exactly when the test says, so "events sent
while the client was away" is a certainty rather than a race with its reconnect timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any


class CutProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._open: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=10)

    def start(self) -> CutProxy:
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._open is not None
        await self._open.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._links.discard(link)
            for each in link:
                each.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        """Drop every connection now; hold new ones until ``restore``."""

        async def cut() -> None:
            assert self._open is not None
            self._open.clear()
            for link in list(self._links):
                for each in link:
                    each.transport.abort()

        self._call(cut())

    def retarget(self, upstream_port: int) -> None:
        """Send connections from now on to another server (a reconnect landing elsewhere)."""
        self.upstream_port = upstream_port

    def restore(self) -> None:
        async def restore() -> None:
            assert self._open is not None
            self._open.set()

        self._call(restore())

    def close(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for link in list(self._links):
                for each in link:
                    each.transport.abort()
            current = asyncio.current_task()
            held = [task for task in asyncio.all_tasks() if task is not current]
            for task in held:  # connections still waiting for a restore
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> CutProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
