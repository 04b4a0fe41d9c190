"""A small chat backend written against Pusher, as in the integration guide.

- ``POST /api/login`` ``{"name": ...}``: a session cookie (stand-in for your real login).
- ``POST /api/send-message`` ``{"userId", "message"}``: ``new-message`` on ``user-{userId}``.
- ``POST /pusher/auth``: pusher-js's channel authorization; presence channels for logged-in
  users only, with their name as ``user_info``.
- ``POST /pusher/webhooks``: Pusher's webhooks; who is in ``presence-lobby`` is broadcast
  as ``online-users`` on ``lobby-status`` whenever it changes.

It reads the guide's ``PUSHER_APP_ID``, ``PUSHER_KEY``, ``PUSHER_SECRET`` and, to talk to a
server other than the hosted one, ``PUSHER_HOST`` and ``PUSHER_PORT``.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Mapping
from typing import Any

import pusher
from aiohttp import web

LOBBY = "presence-lobby"
PUSHER: web.AppKey[pusher.Pusher] = web.AppKey("pusher")
ONLINE: web.AppKey[set[str]] = web.AppKey("online")


def pusher_from_env(env: Mapping[str, str]) -> pusher.Pusher:
    if env.get("PUSHER_HOST"):
        return pusher.Pusher(
            app_id=env["PUSHER_APP_ID"],
            key=env["PUSHER_KEY"],
            secret=env["PUSHER_SECRET"],
            host=env["PUSHER_HOST"],
            port=int(env.get("PUSHER_PORT", "443")),
            ssl=env.get("PUSHER_SCHEME", "https") == "https",
        )
    return pusher.Pusher(
        app_id=env["PUSHER_APP_ID"],
        key=env["PUSHER_KEY"],
        secret=env["PUSHER_SECRET"],
        cluster=env.get("PUSHER_CLUSTER", "mt1"),
        ssl=True,
    )


def send_message(client: pusher.Pusher, user_id: str, message: str) -> None:
    """The guide's /api/send-message, as a function the route (and a test) can call."""
    timestamp = datetime.datetime.now(datetime.UTC).isoformat()
    client.trigger(f"user-{user_id}", "new-message", {"message": message, "timestamp": timestamp})


async def login(request: web.Request) -> web.Response:
    body = await request.json()
    name = str(body.get("name", "")).strip()
    if not name:
        return web.json_response({"error": "name is required"}, status=400)
    response = web.json_response({"success": True})
    response.set_cookie("user", name, httponly=True)
    return response


async def send_message_route(request: web.Request) -> web.Response:
    body = await request.json()
    user_id, message = body.get("userId"), body.get("message")
    if not user_id or not isinstance(message, str) or not message:
        return web.json_response({"error": "userId and message are required"}, status=400)
    # The SDK is synchronous (requests): keep it off the event loop.
    await asyncio.to_thread(send_message, request.app[PUSHER], str(user_id), message)
    return web.json_response({"success": True})


async def pusher_auth(request: web.Request) -> web.Response:
    form = await request.post()
    socket_id, channel = str(form.get("socket_id", "")), str(form.get("channel_name", ""))
    user = request.cookies.get("user")
    if user is None:
        return web.json_response({"error": "log in first"}, status=403)
    client = request.app[PUSHER]
    if channel.startswith("presence-"):
        member = {"user_id": user, "user_info": {"name": user}}
        return web.json_response(client.authenticate(channel, socket_id, member))
    if channel == f"private-user-{user}":
        return web.json_response(client.authenticate(channel, socket_id))
    return web.json_response({"error": f"{user} may not join {channel}"}, status=403)


async def pusher_webhooks(request: web.Request) -> web.Response:
    client = request.app[PUSHER]
    body = await request.text()
    webhook = client.validate_webhook(
        request.headers.get("X-Pusher-Key", ""), request.headers.get("X-Pusher-Signature", ""), body
    )
    if webhook is None:
        return web.json_response({"error": "bad signature"}, status=401)
    online = request.app[ONLINE]
    before = set(online)
    for event in webhook["events"]:
        if event.get("channel") != LOBBY:
            continue
        if event["name"] == "member_added":
            online.add(event["user_id"])
        elif event["name"] == "member_removed":
            online.discard(event["user_id"])
    if online != before:
        users: dict[str, Any] = {"users": sorted(online)}
        await asyncio.to_thread(client.trigger, "lobby-status", "online-users", users)
    return web.json_response({"success": True})


def create_app(env: Mapping[str, str] | None = None) -> web.Application:
    app = web.Application()
    app[PUSHER] = pusher_from_env(os.environ if env is None else env)
    app[ONLINE] = set()
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/send-message", send_message_route)
    app.router.add_post("/pusher/auth", pusher_auth)
    app.router.add_post("/pusher/webhooks", pusher_webhooks)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=3000)
