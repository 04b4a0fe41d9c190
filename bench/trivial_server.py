"""The least a server can do for the benchmark's public-channel scenarios, to find the load
generator's own ceiling: aiohttp on uvloop, no signature checks, frame once, raw writes.

``python -m bench.trivial_server --port 6999``
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson
import uvloop
from aiohttp import WSMsgType, web

from tidings.protocol.framing import text_frame

CHANNELS: dict[str, dict[int, asyncio.Transport]] = {}


def _established(socket_id: int) -> str:
    data = orjson.dumps({"socket_id": f"{socket_id}.1", "activity_timeout": 120}).decode()
    return orjson.dumps({"event": "pusher:connection_established", "data": data}).decode()


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    transport: Any = request.transport
    me = id(ws)
    joined: list[str] = []
    await ws.send_str(_established(me))
    try:
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            frame = orjson.loads(message.data)
            if frame.get("event") == "pusher:subscribe":
                channel = frame["data"]["channel"]
                CHANNELS.setdefault(channel, {})[me] = transport
                joined.append(channel)
                reply = {
                    "event": "pusher_internal:subscription_succeeded",
                    "channel": channel,
                    "data": "{}",
                }
                await ws.send_str(orjson.dumps(reply).decode())
    finally:
        for channel in joined:
            CHANNELS.get(channel, {}).pop(me, None)
    return ws


def _publish(event: dict[str, Any]) -> None:
    channel = event["channel"]
    subscribers = CHANNELS.get(channel)
    if subscribers:
        payload = {"event": event["name"], "channel": channel, "data": event["data"]}
        frame = text_frame(orjson.dumps(payload))
        for transport in subscribers.values():
            transport.write(frame)


async def events(request: web.Request) -> web.Response:
    _publish(orjson.loads(await request.read()))
    return web.Response(body=b"{}", content_type="application/json")


async def batch_events(request: web.Request) -> web.Response:
    for event in orjson.loads(await request.read())["batch"]:
        _publish(event)
    return web.Response(body=b"{}", content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="OK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/app/{key}", websocket)
    app.router.add_post("/apps/{app_id}/events", events)
    app.router.add_post("/apps/{app_id}/batch_events", batch_events)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        backlog=2048,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
