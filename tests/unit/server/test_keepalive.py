"""The keep-alive sweep: ping the idle, close the silent, terminate the unauthorized.

``sweep(ctx, now)`` reads only ``ctx.config.server`` and ``ctx.connections``, so the context is a
namespace and each connection a recorder of what the sweep asked it to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

from tidings.apps import App
from tidings.config import ServerSettings
from tidings.protocol import messages
from tidings.server.context import Context
from tidings.server.keepalive import sweep

ACTIVITY = 120
PONG = 30.0
PLAIN = App(id="1", key="k", secret="s")
STRICT = App(
    id="2", key="k2", secret="s", enable_user_authentication=True, user_authentication_timeout=10.0
)


@dataclass
class FakeSession:
    authorized: bool = False


@dataclass
class FakeConnection:
    socket_id: str = "1.1"
    app: App = PLAIN
    opened_at: float = 0.0
    last_seen: float = 0.0
    pinged_at: float | None = None
    closing: bool = False
    session: FakeSession = field(default_factory=FakeSession)
    replies: list[bytes] = field(default_factory=list)
    closes: list[tuple[int, str]] = field(default_factory=list)
    terminations: list[tuple[int, str]] = field(default_factory=list)

    def reply(self, payload: bytes) -> None:
        self.replies.append(payload)

    def close(self, code: int, reason: str = "") -> None:
        self.closes.append((code, reason))

    def terminate(self, code: int, message: str) -> None:
        self.terminations.append((code, message))

    @property
    def untouched(self) -> bool:
        return not (self.replies or self.closes or self.terminations)


def context(*connections: FakeConnection) -> Context:
    server = ServerSettings(activity_timeout=ACTIVITY, pong_timeout=PONG)
    namespace = SimpleNamespace(
        config=SimpleNamespace(server=server),
        connections={conn.socket_id: conn for conn in connections},
    )
    return cast(Context, namespace)


# -- pings ----------------------------------------------------------------------------------


def test_a_connection_heard_from_within_the_activity_timeout_is_left_alone() -> None:
    conn = FakeConnection(last_seen=100.0)
    sweep(context(conn), 100.0 + ACTIVITY)  # exactly at the timeout: not yet idle
    assert conn.untouched
    assert conn.pinged_at is None


def test_a_connection_silent_past_the_activity_timeout_is_pinged_and_marked() -> None:
    conn = FakeConnection(last_seen=100.0)
    now = 100.0 + ACTIVITY + 0.5
    sweep(context(conn), now)
    assert conn.replies == [messages.PING]
    assert conn.pinged_at == now
    assert conn.closes == [] and conn.terminations == []


def test_a_pinged_connection_is_not_pinged_again_while_its_pong_is_awaited() -> None:
    conn = FakeConnection(last_seen=0.0)
    ctx = context(conn)
    sweep(ctx, ACTIVITY + 1.0)
    sweep(ctx, ACTIVITY + 1.0 + PONG / 2)
    sweep(ctx, ACTIVITY + 1.0 + PONG)  # exactly at the pong timeout: still waiting
    assert conn.replies == [messages.PING]
    assert conn.closes == []


# -- pong timeout ---------------------------------------------------------------------------


def test_no_pong_within_the_pong_timeout_closes_with_4201() -> None:
    conn = FakeConnection(last_seen=0.0)
    ctx = context(conn)
    sweep(ctx, ACTIVITY + 1.0)
    sweep(ctx, ACTIVITY + 1.0 + PONG + 0.1)
    assert conn.closes == [(4201, "Pong reply not received")]
    assert conn.replies == [messages.PING]  # closed, not pinged a second time


def test_activity_after_a_ping_cancels_the_pong_timeout() -> None:
    conn = FakeConnection(last_seen=0.0)
    ctx = context(conn)
    sweep(ctx, ACTIVITY + 1.0)
    # What the read loop does on any inbound frame:
    conn.last_seen, conn.pinged_at = ACTIVITY + 2.0, None
    sweep(ctx, ACTIVITY + 1.0 + PONG + 0.1)
    assert conn.closes == []
    assert conn.replies == [messages.PING]


# -- user authentication timeout ------------------------------------------------------------


def test_an_unauthorized_connection_is_terminated_with_4009_after_the_apps_timeout() -> None:
    conn = FakeConnection(app=STRICT, opened_at=0.0, last_seen=10.5)
    sweep(context(conn), 10.5)
    assert conn.terminations == [(4009, "Connection not authorized within timeout.")]
    assert conn.replies == [] and conn.closes == []


def test_an_unauthorized_connection_within_the_apps_timeout_is_left_alone() -> None:
    conn = FakeConnection(app=STRICT, opened_at=0.0, last_seen=10.0)
    sweep(context(conn), 10.0)  # exactly at the timeout: not yet overdue
    assert conn.untouched


def test_an_authorized_connection_is_never_terminated_for_authentication() -> None:
    conn = FakeConnection(app=STRICT, session=FakeSession(authorized=True), last_seen=100.0)
    sweep(context(conn), 100.0)
    assert conn.untouched


def test_apps_without_user_authentication_never_terminate_unauthorized_connections() -> None:
    conn = FakeConnection(app=PLAIN, last_seen=1000.0)
    sweep(context(conn), 1000.0)  # far past the default 30 s authentication timeout
    assert conn.untouched


def test_an_idle_unauthorized_connection_is_pinged_and_terminated_in_one_sweep() -> None:
    conn = FakeConnection(app=STRICT, opened_at=0.0, last_seen=0.0)
    sweep(context(conn), ACTIVITY + 1.0)
    assert conn.replies == [messages.PING]
    assert [code for code, _ in conn.terminations] == [4009]


def test_a_connection_awaiting_a_pong_is_judged_on_the_pong_alone() -> None:
    # Actual behaviour: once pinged, the authentication check waits until the pong (which
    # clears pinged_at) or the pong timeout (which closes with 4201).
    conn = FakeConnection(app=STRICT, opened_at=0.0, last_seen=0.0, pinged_at=ACTIVITY + 1.0)
    sweep(context(conn), ACTIVITY + 2.0)
    assert conn.untouched


# -- closing and many connections -----------------------------------------------------------


def test_closing_connections_are_skipped_whatever_their_timers_say() -> None:
    idle = FakeConnection("1.1", last_seen=0.0, closing=True)
    silent = FakeConnection("1.2", last_seen=0.0, pinged_at=1.0, closing=True)
    unauthorized = FakeConnection("1.3", app=STRICT, closing=True)
    sweep(context(idle, silent, unauthorized), 10_000.0)
    assert idle.untouched and silent.untouched and unauthorized.untouched
    assert idle.pinged_at is None


def test_one_sweep_judges_every_connection_on_its_own_timers() -> None:
    fresh = FakeConnection("1.1", last_seen=1000.0)
    idle = FakeConnection("1.2", last_seen=1000.0 - ACTIVITY - 1)
    silent = FakeConnection("1.3", last_seen=0.0, pinged_at=1000.0 - PONG - 1)
    late = FakeConnection("1.4", app=STRICT, opened_at=0.0, last_seen=1000.0)
    sweep(context(fresh, idle, silent, late), 1000.0)
    assert fresh.untouched
    assert idle.replies == [messages.PING] and idle.closes == []
    assert [code for code, _ in silent.closes] == [4201]
    assert [code for code, _ in late.terminations] == [4009]


def test_connections_leaving_the_registry_during_a_sweep_do_not_stop_it() -> None:
    ctx = context()

    @dataclass
    class Vanishing(FakeConnection):
        def close(self, code: int, reason: str = "") -> None:
            super().close(code, reason)
            del ctx.connections[self.socket_id]

    first = Vanishing("1.1", pinged_at=0.0)
    second = Vanishing("1.2", pinged_at=0.0)
    ctx.connections.update({"1.1": first, "1.2": second})  # type: ignore[dict-item]
    sweep(ctx, PONG + 1.0)
    assert first.closes and second.closes
    assert ctx.connections == {}
