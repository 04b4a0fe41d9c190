"""An open debug console for ``tidings-console`` runs: reads /console/stream as a browser would,
so a scenario measures what an open console costs the server. Prints one JSON line once it
watches, runs until SIGTERM, then prints what it read as another.

    python -m bench.console_watcher ws://127.0.0.1:PORT/console/stream?app=ID&token=TOKEN
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp


async def watch(url: str) -> dict[str, int]:
    counts = {"frames": 0, "bytes": 0, "events": 0, "dropped": 0}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        print(json.dumps({"watching": url.partition("?")[0]}), flush=True)
        reading = asyncio.ensure_future(_read(socket, counts))
        await asyncio.wait(
            [reading, asyncio.ensure_future(stop.wait())], return_when="FIRST_COMPLETED"
        )
        reading.cancel()
    return counts


async def _read(socket: aiohttp.ClientWebSocketResponse, counts: dict[str, int]) -> None:
    async for message in socket:
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        counts["frames"] += 1
        counts["bytes"] += len(message.data)
        document = json.loads(message.data)
        if document.get("type") == "activity":
            counts["events"] += len(document["events"])
            counts["dropped"] += document["dropped"]


def main() -> None:
    print(json.dumps(asyncio.run(watch(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()
