"""``pusher_socket``: small asyncio WebSocket clients that speak the Pusher protocol.

For tests of the subscribing side: connect, subscribe to public, private and presence channels
(through the application's own auth endpoint, a function, or signed with the app's secret),
receive events, send client events, sign in. Events wait in an inbox until a test takes them
with ``next_event``, so one arriving early is never lost and one of another channel is never
in the way. The client runs on the test's event loop; waiting is on a condition its reader
wakes, never a sleep.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tidings.protocol.signatures import channel_auth_string, sign
from tidings.testing.recorder import decode

if TYPE_CHECKING:
    import aiohttp

# Another process's proxy settings must not route a test's 127.0.0.1 connection (websockets
# >= 15 reads them by default; older versions have no such option and no such behaviour).
_NO_PROXY: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect.__init__).parameters else {}
)

# socket_id, channel_name -> the auth endpoint's JSON answer ({"auth": ..., "channel_data": ...})
Authorizer = Callable[[str, str], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
# socket_id -> the user authentication endpoint's answer ({"auth": ..., "user_data": ...})
UserAuthenticator = Callable[[str], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
# What the pusher_socket fixture is: await it (with the PusherSocket options) for a socket.
SocketFactory = Callable[..., Awaitable["PusherSocket"]]


class SubscriptionRefused(AssertionError):
    """The server or the auth endpoint refused a subscription (or a sign-in)."""

    def __init__(self, channel: str, status: int | None, error: str) -> None:
        super().__init__(f"subscription to {channel!r} refused ({status}): {error}")
        self.channel = channel
        self.status = status
        self.error = error


@dataclass(frozen=True, slots=True)
class SocketEvent:
    """One message from the server. ``data`` decoded from JSON when it is JSON."""

    name: str
    channel: str | None
    data: Any
    user_id: str | None
    message: Mapping[str, Any]  # the whole frame, as received


class PusherSocket:
    """One connection; ``await socket.connect()`` (the factory does) before anything else."""

    def __init__(
        self,
        ws_url: str,
        key: str,
        secret: str,
        *,
        auth_endpoint: str | Authorizer | None = None,
        user_auth_endpoint: str | UserAuthenticator | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.key = key
        self._secret = secret
        self._auth = auth_endpoint
        self._user_auth = user_auth_endpoint
        self._headers = dict(headers or {})
        self.socket_id = ""
        self.received: list[SocketEvent] = []  # everything but pings, in order
        self.close_code: int | None = None
        self.close_reason = ""
        self._inbox: list[SocketEvent] = []
        self._changed = asyncio.Condition()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PusherSocket:
        if self._ws is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- connection ---------------------------------------------------------------------------
    async def connect(self, timeout: float = 5.0) -> PusherSocket:
        """Open the socket and wait for ``pusher:connection_established``."""
        self._ws = await connect(
            self.ws_url, open_timeout=timeout, ping_interval=None, compression=None, **_NO_PROXY
        )
        self._reader = asyncio.create_task(self._read(self._ws))
        established = await self.next_event(name="pusher:connection_established", timeout=timeout)
        self.socket_id = established.data["socket_id"]
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
            self._reader = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def closed(self) -> bool:
        return self._reader is None or self._reader.done()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                message = orjson.loads(text)
                name = message.get("event", "")
                if name == "pusher:ping":  # keep-alive is the client's job: answer it
                    await ws.send('{"event":"pusher:pong","data":{}}')
                    continue
                data, _ = decode(message.get("data"))
                event = SocketEvent(
                    name, message.get("channel"), data, message.get("user_id"), message
                )
                async with self._changed:
                    self.received.append(event)
                    self._inbox.append(event)
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code if ws.close_code is not None else 1006
            self.close_reason = ws.close_reason or ""
            async with self._changed:
                self._changed.notify_all()

    async def send(self, event: str, data: Any, channel: str | None = None) -> None:
        """Send one raw protocol message."""
        if self._ws is None:
            raise RuntimeError("connect() first")
        message: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            message["channel"] = channel
        await self._ws.send(orjson.dumps(message).decode())

    # -- receiving ------------------------------------------------------------------------------
    async def next_event(
        self, channel: str | None = None, name: str | None = None, timeout: float = 5.0
    ) -> SocketEvent:
        """Take the oldest received event on ``channel`` named ``name`` (None: any), waiting
        up to ``timeout`` seconds for it; the others stay in the inbox for later calls."""
        names = None if name is None else (name,)
        return await self._take(channel, names, timeout)

    async def _take(
        self, channel: str | None, names: tuple[str, ...] | None, timeout: float
    ) -> SocketEvent:
        def take() -> SocketEvent | None:
            for index, event in enumerate(self._inbox):
                if (channel is None or event.channel == channel) and (
                    names is None or event.name in names
                ):
                    return self._inbox.pop(index)
            return None

        async with self._changed:
            found = take()
            try:
                async with asyncio.timeout(timeout):
                    while found is None and not self.closed:
                        await self._changed.wait()
                        found = take()
            except TimeoutError:
                pass
        if found is None:
            raise AssertionError(self._missing(channel, names, timeout))
        return found

    def _missing(self, channel: str | None, names: tuple[str, ...] | None, timeout: float) -> str:
        what = " or ".join(repr(n) for n in names) if names else "an event"
        where = f" on {channel!r}" if channel is not None else ""
        state = (
            f"the socket was closed ({self.close_code} {self.close_reason})"
            if self.closed and self._ws is not None
            else f"nothing within {timeout:g} s"
        )
        waiting = "\n".join(f"  {e.channel!r} {e.name!r} {e.data!r}"[:160] for e in self._inbox)
        inbox = f"; waiting in the inbox:\n{waiting}" if waiting else "; the inbox is empty"
        return f"socket {self.socket_id or '(unconnected)'} expected {what}{where}: {state}{inbox}"

    # -- channels -------------------------------------------------------------------------------
    async def subscribe(
        self,
        channel: str,
        *,
        user_id: str | None = None,
        user_info: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> Any:
        """Subscribe and wait for the answer: the ``subscription_succeeded`` data (for presence
        ``{"presence": {"ids", "hash", "count"}}``), or ``SubscriptionRefused``. Private and
        presence channels are authorized by the auth endpoint, else signed with the secret
        (presence then needs ``user_id``)."""
        data: dict[str, Any] = {"channel": channel}
        if channel.startswith(("private-", "presence-")):
            data.update(await self._authorize(channel, user_id, user_info))
        await self.send("pusher:subscribe", data)
        answer = await self._take(
            channel,
            ("pusher_internal:subscription_succeeded", "pusher:subscription_error"),
            timeout,
        )
        if answer.name == "pusher:subscription_error":
            info = answer.data if isinstance(answer.data, dict) else {"error": answer.data}
            raise SubscriptionRefused(channel, info.get("status"), str(info.get("error")))
        return answer.data

    async def unsubscribe(self, channel: str) -> None:
        await self.send("pusher:unsubscribe", {"channel": channel})

    async def send_client_event(self, channel: str, name: str, data: Any) -> None:
        """Trigger ``client-…`` on a private or presence channel this socket subscribed to (the
        app needs ``enable_client_events``). The sender does not receive it; others do."""
        if not name.startswith("client-"):
            name = f"client-{name}"
        await self.send(name, data, channel)

    async def sign_in(
        self,
        user_id: str | None = None,
        user_info: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> Any:
        """``pusher:signin`` through the user auth endpoint, or signed with the secret for
        ``user_id``; waits for ``pusher:signin_success`` and returns its data."""
        if self._user_auth is not None:
            answer = await self._call(self._user_auth, {"socket_id": self.socket_id}, "sign-in")
        elif user_id is not None:
            user_data = orjson.dumps({"id": user_id, "user_info": dict(user_info or {})}).decode()
            signature = sign(self._secret, f"{self.socket_id}::user::{user_data}")
            answer = {"auth": f"{self.key}:{signature}", "user_data": user_data}
        else:
            raise ValueError("sign_in needs user_id, or a user_auth_endpoint given at connect")
        await self.send("pusher:signin", dict(answer))
        found = await self._take(None, ("pusher:signin_success", "pusher:error"), timeout)
        if found.name == "pusher:error":
            raise SubscriptionRefused("(sign-in)", None, str(found.data))
        return found.data

    async def _authorize(
        self, channel: str, user_id: str | None, user_info: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if self._auth is not None:
            form = {"socket_id": self.socket_id, "channel_name": channel}
            answer = await self._call(self._auth, form, channel)
            result = {"auth": answer["auth"]}
            if "channel_data" in answer:
                result["channel_data"] = answer["channel_data"]
            return result
        channel_data = None
        if channel.startswith("presence-"):
            if user_id is None:
                raise ValueError(f"{channel}: a presence subscription signed here needs user_id")
            member = {"user_id": user_id, "user_info": dict(user_info or {})}
            channel_data = orjson.dumps(member).decode()
        signature = sign(self._secret, channel_auth_string(self.socket_id, channel, channel_data))
        result = {"auth": f"{self.key}:{signature}"}
        if channel_data is not None:
            result["channel_data"] = channel_data
        return result

    async def _call(
        self, endpoint: str | Callable[..., Any], form: dict[str, str], what: str
    ) -> Mapping[str, Any]:
        """Ask the application: POST the form pusher-js posts, or call the function."""
        if not isinstance(endpoint, str):
            answer = endpoint(*form.values())
            return await answer if inspect.isawaitable(answer) else answer  # type: ignore[no-any-return]
        if self._http is None:
            import aiohttp  # only sockets that ask an auth endpoint pay for importing it

            self._http = aiohttp.ClientSession(headers=self._headers)
        async with self._http.post(endpoint, data=form) as response:
            body = await response.text()
            if response.status != 200:
                raise SubscriptionRefused(
                    what, response.status, f"{endpoint} answered {body[:200]}"
                )
            return orjson.loads(body)  # type: ignore[no-any-return]
