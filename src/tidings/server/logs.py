"""The server's log lines about connections, one per thing that happened to one.

Each carries its facts twice: in the message, for people, and as ``extra`` fields, which
``--log-format json`` turns into keys. Nothing secret goes in: no query string (it holds
signatures), no auth token, no app secret.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tidings.protocol.errors import SubscriptionError

if TYPE_CHECKING:
    from tidings.server.connection import Connection

log = logging.getLogger("tidings.connection")


def opened(conn: Connection) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "socket %s opened: app %s, from %s",
            conn.socket_id, conn.app.id, conn.remote,
            extra={"socket_id": conn.socket_id, "app_id": conn.app.id, "remote": conn.remote},
        )  # fmt: skip


def closed(conn: Connection, code: int, duration: float) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "socket %s closed: app %s, from %s, code %d, after %.3f s",
            conn.socket_id, conn.app.id, conn.remote, code, duration,
            extra={
                "socket_id": conn.socket_id,
                "app_id": conn.app.id,
                "remote": conn.remote,
                "code": code,
                "duration": round(duration, 3),
            },
        )  # fmt: skip


def subscription_refused(conn: Connection, error: SubscriptionError) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "socket %s: subscription to %s refused (%d %s): %s",
            conn.socket_id, error.channel, error.status, error.kind, error.message,
            extra={
                "socket_id": conn.socket_id,
                "app_id": conn.app.id,
                "channel": error.channel,
                "status": error.status,
            },
        )  # fmt: skip


def slow_consumer(conn: Connection, limit: int) -> None:
    log.warning(
        "socket %s closed as a slow consumer: more than %d bytes queued",
        conn.socket_id, limit,
        extra={"socket_id": conn.socket_id, "app_id": conn.app.id},
    )  # fmt: skip


def refused(app_id: str, remote: str, code: int, message: str) -> None:
    """A WebSocket turned away before it became a connection (unknown app, over capacity)."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "socket refused: app %s, from %s, code %d: %s",
            app_id or "(unknown)", remote, code, message,
            extra={"app_id": app_id, "remote": remote, "code": code},
        )  # fmt: skip
