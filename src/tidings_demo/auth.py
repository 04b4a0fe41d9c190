"""Who is logged in (a signed cookie), and the two endpoints pusher-js calls to be let in.

``/pusher/auth`` signs private and presence subscriptions, ``/pusher/user-auth`` signs
``pusher.signin()``; both with the SDK, both only for a logged-in user, who also decides what
presence members see about them (``user_info``). Anonymous callers get 403, which pusher-js
reports as a ``pusher:subscription_error`` / ``pusher:signin_error`` with that status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

from aiohttp import web
from yarl import URL

from tidings_demo import notify
from tidings_demo.httputil import config_of, error

COOKIE = "tidings_demo_user"
# Random per process: restarting the demo logs everyone out, and no signing key is configured.
SIGNING_KEY = web.AppKey("signing_key", bytes)
MAX_NAME_LENGTH = 40


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str

    @property
    def info(self) -> dict[str, str]:
        return {"name": self.name}


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def cookie_value(key: bytes, user: User) -> str:
    raw = json.dumps({"id": user.id, "name": user.name}, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_sign(key, payload)}"


def current_user(request: web.Request) -> User | None:
    value = request.cookies.get(COOKIE, "")
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(request.app[SIGNING_KEY], payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return User(str(data["id"]), str(data["name"]))
    except (ValueError, KeyError, TypeError):
        return None


def new_user(name: str) -> User:
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:20] or "user"
    return User(f"{slug}-{secrets.token_hex(3)}", name)


def _safe_next(value: object) -> str:
    # Only local paths, so the login form cannot be used to bounce people elsewhere.
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return "/presence"


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        retry = URL("/login").with_query(error="name", next=_safe_next(form.get("next")))
        raise web.HTTPSeeOther(str(retry))
    response = web.HTTPSeeOther(_safe_next(form.get("next")))
    user = new_user(name)
    response.set_cookie(
        COOKIE, cookie_value(request.app[SIGNING_KEY], user), httponly=True, samesite="Lax"
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE)
    return response


async def _auth_form(request: web.Request, fields: tuple[str, ...]) -> dict[str, str] | None:
    form = await request.post()
    values = {name: form.get(name) for name in fields}
    if not all(isinstance(v, str) and v for v in values.values()):
        return None
    return {name: str(value) for name, value in values.items()}


async def channel_auth(request: web.Request) -> web.Response:
    user = current_user(request)
    if user is None:
        return error(403, "Log in to join private and presence channels")
    form = await _auth_form(request, ("socket_id", "channel_name"))
    if form is None:
        return error(400, "Missing required fields: socket_id, channel_name")
    channel = form["channel_name"]
    if not channel.startswith(("private-", "presence-")):
        return error(400, f"{channel} is a public channel; it needs no authorization")
    problem = notify.channel_problem(channel)
    if problem:
        return error(400, f"Invalid channel: {problem}")
    presence = {"user_id": user.id, "user_info": user.info}
    custom = presence if channel.startswith("presence-") else None
    client = notify.new_client(config_of(request))
    try:
        # The SDK's name for authorizeChannel; pure HMAC, no I/O.
        signed = client.authenticate(channel, form["socket_id"], custom)
    except ValueError as exc:
        return error(400, f"Cannot authorize: {exc}")
    return web.json_response(signed)


async def user_auth(request: web.Request) -> web.Response:
    user = current_user(request)
    if user is None:
        return error(403, "Log in to sign in to tidings")
    form = await _auth_form(request, ("socket_id",))
    if form is None:
        return error(400, "Missing required field: socket_id")
    client = notify.new_client(config_of(request))
    user_data = {"id": user.id, "user_info": user.info}
    try:
        signed = client.authenticate_user(form["socket_id"], user_data)
    except ValueError as exc:
        return error(400, f"Cannot sign in: {exc}")
    return web.json_response(signed)


def add_routes(app: web.Application) -> None:
    app[SIGNING_KEY] = secrets.token_bytes(32)
    app.router.add_post("/login", login)
    app.router.add_route("*", "/logout", logout)
    app.router.add_post("/pusher/auth", channel_auth)
    app.router.add_post("/pusher/user-auth", user_auth)
