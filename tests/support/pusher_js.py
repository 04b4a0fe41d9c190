"""Real pusher-js 8 clients in a Node process, driven from pytest.

``PusherJsDriver`` starts ``tests/support/pusher_js_driver.js`` and hosts any number of named
``PusherJsClient``s in it. Everything the clients observe (events, connection states, errors,
user and watchlist events) is recorded; the ``wait_*`` methods block until a record shows up or
fail with the recent records and the driver's stderr, so a broken server never hangs a test.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pusher

from tests.support.server import ROOT, AppSpec, TidingsServer

DRIVER = Path(__file__).with_name("pusher_js_driver.js")
DEFAULT_TIMEOUT = 5.0
SYNC_EVENT = "tidings-test-sync"

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


class DriverError(AssertionError):
    """The awaited thing did not happen; the message shows what the clients saw instead."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event as a pusher-js channel delivered it to the application."""

    channel: str
    name: str
    data: Any
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SdkResponse:
    status: int
    body: str


class PusherJsDriver:
    """One Node process hosting pusher-js clients for one tidings server and app."""

    def __init__(
        self,
        server: TidingsServer,
        app: AppSpec | None = None,
        *,
        encryption_master_key_base64: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.server = server
        self.app_spec = app or server.app
        self.timeout = timeout
        self.encryption_master_key_base64 = encryption_master_key_base64
        self.rest = pusher.Pusher(
            app_id=self.app_spec.id,
            key=self.app_spec.key,
            secret=self.app_spec.secret,
            host=server.host,
            port=server.port,
            ssl=False,
            encryption_master_key_base64=encryption_master_key_base64,
        )
        self._records: list[Record] = []
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._names = itertools.count(1)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> PusherJsDriver:
        self._process = subprocess.Popen(
            ["node", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, name="pusher-js-driver", daemon=True)
        self._reader.start()
        self.wait_record(lambda r: r["type"] == "ready", "the Node driver to start", timeout=15)
        return self

    def close(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.stdin is not None:
            process.stdin.close()  # the driver disconnects every client and exits
        try:
            process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(self.timeout)
        self._stderr.close()

    def __enter__(self) -> PusherJsDriver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = {"type": "noise", "line": line.rstrip()}
            with self._changed:
                self._records.append(record)
                self._changed.notify_all()
        with self._changed:
            self._records.append({"type": "exited"})
            self._changed.notify_all()

    # -- records ------------------------------------------------------------------------------
    def records(self, predicate: Predicate = lambda r: True) -> list[Record]:
        with self._changed:
            return [r for r in self._records if predicate(r)]

    def mark(self) -> int:
        """A position in the record log; pass it as ``since`` to ignore what came before."""
        with self._changed:
            return len(self._records)

    def wait_record(
        self, predicate: Predicate, what: str, timeout: float | None = None, since: int = 0
    ) -> Record:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._changed:
            while True:
                for record in self._records[since:]:
                    if predicate(record):
                        return record
                if self._records and self._records[-1]["type"] == "exited":
                    raise DriverError(
                        f"the Node driver exited while waiting for {what}" + self._tail()
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DriverError(f"timed out waiting for {what}" + self._tail())
                self._changed.wait(left)

    def _tail(self) -> str:
        recent = "\n  ".join(json.dumps(r) for r in self._records[-25:])
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace")[-2000:]
        return (
            f"\nlast records:\n  {recent}\nnode stderr:\n{stderr}\nserver log:\n"
            + (self.server.log()[-2000:])
        )

    # -- commands -----------------------------------------------------------------------------
    def request(self, cmd: str, **fields: Any) -> Any:
        process = self._process
        if process is None or process.stdin is None:
            raise DriverError("the Node driver is not running")
        request_id = next(self._ids)
        process.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **fields}) + "\n")
        process.stdin.flush()
        reply = self.wait_record(
            lambda r: r["type"] == "reply" and r.get("id") == request_id, f"a reply to {cmd}"
        )
        if not reply["ok"]:
            raise DriverError(f"{cmd} failed in the driver: {reply['error']}")
        return reply["result"]

    def app_config(self) -> dict[str, Any]:
        return {
            "appId": self.app_spec.id,
            "key": self.app_spec.key,
            "secret": self.app_spec.secret,
            "host": self.server.host,
            "port": self.server.port,
            "encryptionMasterKeyBase64": self.encryption_master_key_base64,
        }

    def client(
        self,
        name: str | None = None,
        *,
        presence: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
        secret: str | None = None,
        key: str | None = None,
        options: dict[str, Any] | None = None,
        wait_connected: bool = True,
        record_messages: bool = False,
        recovery: dict[str, Any] | None = None,
    ) -> PusherJsClient:
        """A new pusher-js client (it connects at once), by default once it is connected.

        ``presence`` is the presence data its auth handler signs, ``user`` the user data its
        sign-in handler signs; ``secret`` overrides the app secret its Node SDK signs with and
        ``key`` the app key it connects with;
        ``options`` are merged into the pusher-js options. With ``record_messages`` every
        frame the connection receives is recorded too (see ``PusherJsClient.messages``).
        ``recovery`` attaches tidings' pusher-js add-on (``{"storage": name, "fromStart": bool}``;
        clients naming the same storage share it, as a page and its reload share
        sessionStorage).
        """
        name = name or f"client-{next(self._names)}"
        app = self.app_config()
        if secret is not None:
            app["secret"] = secret
        if key is not None:
            app["key"] = key
        spec = {
            "app": app,
            "presence": presence,
            "user": user,
            "options": options or {},
            "recordMessages": record_messages,
            "recovery": recovery,
        }
        client = PusherJsClient(self, name)
        self.request("create", client=name, spec=spec)
        if wait_connected:
            client.wait_state("connected")
        return client

    def node_sdk(self, method: str, *args: Any) -> SdkResponse:
        """Call the official Node ``pusher`` SDK (trigger, sendToUser, terminateUserConnections,
        get)."""
        result = self.request("sdk", app=self.app_config(), method=method, args=list(args))
        return SdkResponse(int(result["status"]), str(result["body"]))

    def sync(self, channel: str, *clients: PusherJsClient) -> None:
        """Wait until each client has received a fresh server event on ``channel``.

        Frames on one socket arrive in order, so anything the server wrote to these clients
        before this call has been recorded once this returns: "nothing arrived" becomes a
        deterministic check instead of a sleep. (Pair with ``PusherJsClient.roundtrip`` when
        the thing that must not arrive is caused by a client's own frame.)
        """
        nonce = uuid.uuid4().hex
        marker = self.mark()
        self.rest.trigger(channel, SYNC_EVENT, {"nonce": nonce})
        for each in clients:
            each.wait_for(
                channel, SYNC_EVENT, where=lambda e: e.data == {"nonce": nonce}, since=marker
            )


def unique(name: str) -> str:
    """``name`` plus a random suffix: channels and users no earlier test on a shared server
    can still be holding while its sockets close."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Poll ``condition`` (e.g. an HTTP API query) until it holds, or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DriverError(f"timed out waiting until {what}")
        time.sleep(0.05)


class PusherJsClient:
    """One ``new Pusher(key, options)`` living in the driver process."""

    def __init__(self, driver: PusherJsDriver, name: str) -> None:
        self.driver = driver
        self.name = name

    def _mine(self, record: Record) -> bool:
        return record.get("client") == self.name

    # -- connection ---------------------------------------------------------------------------
    @property
    def socket_id(self) -> str | None:
        return self.connection()["socket_id"]  # type: ignore[no-any-return]

    @property
    def state(self) -> str:
        return self.connection()["state"]  # type: ignore[no-any-return]

    def connection(self) -> dict[str, Any]:
        """``{"state", "socket_id", "retry_scheduled"}``; the last says whether pusher-js has a
        reconnect pending, so "it will not reconnect" is a check rather than a sleep."""
        return self.driver.request("connection", client=self.name)  # type: ignore[no-any-return]

    def wait_state(self, state: str, timeout: float | None = None, since: int = 0) -> Record:
        return self.driver.wait_record(
            lambda r: self._mine(r) and r["type"] == "state" and r["current"] == state,
            f"{self.name} to become {state}",
            timeout,
            since,
        )

    def states(self) -> list[str]:
        return [r["current"] for r in self.driver.records(self._mine) if r["type"] == "state"]

    def connect(self) -> None:
        self.driver.request("connect", client=self.name)

    def disconnect(self) -> None:
        self.driver.request("disconnect", client=self.name)

    def position(self, channel: str) -> dict[str, Any] | None:
        """The add-on's last delivered ``{"serial", "epoch"}`` on ``channel`` (needs recovery)."""
        return self.driver.request("position", client=self.name, channel=channel)  # type: ignore[no-any-return]

    def errors(self) -> list[dict[str, Any]]:
        """Connection-level errors pusher-js emitted (``pusher:error`` frames, close codes)."""
        return [r["error"] for r in self.driver.records(self._mine) if r["type"] == "error"]

    def wait_error(self, code: int, timeout: float | None = None, since: int = 0) -> dict[str, Any]:
        record = self.driver.wait_record(
            lambda r: (
                self._mine(r)
                and r["type"] == "error"
                and (r["error"].get("data") or {}).get("code") == code
            ),
            f"{self.name} to see error {code}",
            timeout,
            since,
        )
        return record["error"]  # type: ignore[no-any-return]

    def messages(self, event: str | None = None) -> list[dict[str, Any]]:
        """Frames as pusher-js decoded them off the wire (needs ``record_messages=True``)."""
        return [
            r["message"]
            for r in self.driver.records(self._mine)
            if r["type"] == "message" and (event is None or r["message"].get("event") == event)
        ]

    def wait_message(self, event: str, timeout: float | None = None) -> dict[str, Any]:
        """The first frame named ``event`` off the wire (needs ``record_messages=True``)."""
        record = self.driver.wait_record(
            lambda r: (
                self._mine(r) and r["type"] == "message" and r["message"].get("event") == event
            ),
            f"{self.name} to receive a {event} frame",
            timeout,
        )
        return record["message"]  # type: ignore[no-any-return]

    # -- channels -----------------------------------------------------------------------------
    def subscribe(
        self,
        channel: str,
        *,
        presence: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Subscribe; unless ``wait`` is False, return the ``pusher:subscription_succeeded`` data
        (for presence channels: ``{"count", "me", "members"}``) or fail on a subscription error.

        ``presence`` is the presence data the Node SDK signs for this channel; ``auth`` is
        handed to pusher-js as the authorization instead of signing anything.
        """
        since = self.driver.mark()
        fields: dict[str, Any] = {"client": self.name, "channel": channel}
        if presence is not None:
            fields["presence"] = presence
        if auth is not None:
            fields["auth"] = auth
        self.driver.request("subscribe", **fields)
        if not wait:
            return None
        outcome = self.wait_for(
            channel,
            ("pusher:subscription_succeeded", "pusher:subscription_error"),
            timeout=timeout,
            since=since,
        )
        if outcome.name == "pusher:subscription_error":
            raise DriverError(f"{self.name} could not subscribe to {channel}: {outcome.data}")
        return outcome.data

    def roundtrip(self) -> None:
        """Wait until the server has handled everything this client sent so far.

        The server reads one socket's frames in order, so once a fresh subscription is
        confirmed, earlier frames (an unsubscribe, a client event) have been processed.
        """
        self.subscribe(f"roundtrip-{uuid.uuid4().hex}")

    def unsubscribe(self, channel: str) -> None:
        self.driver.request("unsubscribe", client=self.name, channel=channel)

    def bind(self, channel: str, event: str) -> None:
        """Record ``event`` through ``channel.bind`` so its metadata (``user_id``) is kept."""
        self.driver.request("bind", client=self.name, channel=channel, event=event)

    def trigger(self, channel: str, event: str, data: Any) -> bool:
        """``channel.trigger(event, data)``: a client event; True when pusher-js sent it."""
        result = self.driver.request(
            "trigger", client=self.name, channel=channel, event=event, data=data
        )
        return bool(result)

    def trigger_burst(self, channel: str, event: str, payloads: list[Any]) -> list[bool]:
        """Several client events sent back to back in one go."""
        result = self.driver.request(
            "trigger", client=self.name, channel=channel, event=event, data=payloads, burst=True
        )
        return [bool(sent) for sent in result]

    def members(self, channel: str) -> dict[str, Any]:
        """``channel.members`` as ``{"count", "me", "members": {id: info}}``."""
        result = self.driver.request("members", client=self.name, channel=channel)
        if result is None:
            raise DriverError(f"{self.name} has no presence channel {channel}")
        return result  # type: ignore[no-any-return]

    def channel_state(self, channel: str) -> dict[str, Any] | None:
        return self.driver.request("channel_state", client=self.name, channel=channel)  # type: ignore[no-any-return]

    def events(self, channel: str | None = None, name: str | None = None) -> list[Event]:
        return [
            Event(r["channel"], r["event"], r["data"], r.get("metadata"))
            for r in self.driver.records(self._mine)
            if r["type"] == "event"
            and (channel is None or r["channel"] == channel)
            and (name is None or r["event"] == name)
        ]

    def wait_for(
        self,
        channel: str,
        name: str | tuple[str, ...],
        *,
        where: Callable[[Event], bool] = lambda e: True,
        timeout: float | None = None,
        since: int = 0,
    ) -> Event:
        names = (name,) if isinstance(name, str) else name

        def matches(r: Record) -> bool:
            if not (
                self._mine(r)
                and r["type"] == "event"
                and r["channel"] == channel
                and r["event"] in names
            ):
                return False
            return where(Event(r["channel"], r["event"], r["data"], r.get("metadata")))

        record = self.driver.wait_record(
            matches, f"{self.name} to receive {' or '.join(names)} on {channel}", timeout, since
        )
        return Event(record["channel"], record["event"], record["data"], record.get("metadata"))

    # -- users --------------------------------------------------------------------------------
    def signin(self, *, wait: bool = True, timeout: float | None = None) -> Any:
        """``pusher.signin()``; unless ``wait`` is False, return the signed-in user data."""
        since = self.driver.mark()
        self.driver.request("signin", client=self.name)
        if not wait:
            return None
        record = self.driver.wait_record(
            lambda r: self._mine(r) and r["type"] == "signin_success",
            f"{self.name} to be signed in",
            timeout,
            since,
        )
        return json.loads(record["user_data"])

    def user_events(self, name: str | None = None) -> list[Any]:
        return [
            r["data"]
            for r in self.driver.records(self._mine)
            if r["type"] == "user_event" and (name is None or r["event"] == name)
        ]

    def wait_user_event(self, name: str, timeout: float | None = None, since: int = 0) -> Any:
        """An event ``pusher.user.bind(name, ...)`` received; returns its data."""
        record = self.driver.wait_record(
            lambda r: self._mine(r) and r["type"] == "user_event" and r["event"] == name,
            f"{self.name} to receive user event {name}",
            timeout,
            since,
        )
        return record["data"]

    def watchlist(self) -> list[tuple[str, list[str]]]:
        """``pusher.user.watchlist`` events so far, as (online|offline, user_ids)."""
        return [
            (r["event"], r["user_ids"])
            for r in self.driver.records(self._mine)
            if r["type"] == "watchlist"
        ]

    def wait_watchlist(
        self, name: str, user_id: str, timeout: float | None = None, since: int = 0
    ) -> None:
        self.driver.wait_record(
            lambda r: (
                self._mine(r)
                and r["type"] == "watchlist"
                and r["event"] == name
                and user_id in r["user_ids"]
            ),
            f"{self.name} to see {user_id} go {name} on its watchlist",
            timeout,
            since,
        )
