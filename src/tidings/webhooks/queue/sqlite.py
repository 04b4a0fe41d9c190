"""The embedded queue driver: one SQLite file (WAL) under the data directory.

sqlite3 blocks, so every statement runs on one private worker thread; the event loop only
awaits. Each call is a single short statement or transaction, and the hot path never calls in
here directly (the service writes whole batches).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tidings.webhooks.queue.base import NewWebhook, QueuedWebhook

FILE_NAME = "webhooks.sqlite3"
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    failed_at REAL,
    last_error TEXT,
    claimed_until REAL,
    claimed_by INTEGER
);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (failed_at, next_attempt_at);
"""
_COLUMNS = (
    "id, app_id, url, headers, body, created_at, attempts, next_attempt_at, failed_at, last_error"
)


def queue_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


def _row(row: tuple[Any, ...]) -> QueuedWebhook:
    ident, app_id, url, headers, body, created_at, attempts, next_at, failed_at, error = row
    pairs = tuple((str(name), str(value)) for name, value in json.loads(headers))
    webhook = NewWebhook(app_id, url, pairs, bytes(body), created_at)
    return QueuedWebhook(ident, webhook, attempts, next_at, failed_at, error)


def _placeholders(ids: Collection[int]) -> str:
    return ",".join("?" * len(ids))


class SqliteQueue:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-webhooks")
        self._db: sqlite3.Connection | None = None
        self._pending = 0
        self._dead = 0

    @property
    def pending_count(self) -> int:
        return self._pending

    @property
    def dead_count(self) -> int:
        return self._dead

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def call() -> _T:
            assert self._db is not None, "the queue is not open"
            return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: every statement is its own transaction unless we BEGIN explicitly
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when push() returns, even across a power cut.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            _release_orphaned_claims(db)
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        self._pending, self._dead = await self._run(_counts)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(lambda db: db.close())
            self._db = None
        self._executor.shutdown(wait=True)

    async def push(self, webhooks: Sequence[NewWebhook]) -> None:
        rows = [
            (w.app_id, w.url, json.dumps(w.headers), w.body, w.created_at, w.created_at)
            for w in webhooks
        ]

        def insert(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany(
                    "INSERT INTO webhooks (app_id, url, headers, body, created_at, "
                    "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )

        await self._run(insert)
        self._pending += len(rows)

    async def due(self, now: float, limit: int, lease: float) -> list[QueuedWebhook]:
        # Claiming and reading in one statement lets several processes (workers) share the file
        # without two of them posting the same webhook; a crashed claimer's lease runs out.
        query = (
            "UPDATE webhooks SET claimed_until = ?, claimed_by = ? WHERE id IN "
            "(SELECT id FROM webhooks WHERE failed_at IS NULL AND next_attempt_at <= ? "
            "AND (claimed_until IS NULL OR claimed_until <= ?) "
            f"ORDER BY next_attempt_at, id LIMIT ?) RETURNING {_COLUMNS}"
        )
        rows = await self._run(
            lambda db: db.execute(query, (now + lease, os.getpid(), now, now, limit)).fetchall()
        )
        return sorted((_row(row) for row in rows), key=lambda row: (row.next_attempt_at, row.id))

    async def next_due_at(self) -> float | None:
        query = (
            "SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) FROM webhooks "
            "WHERE failed_at IS NULL"
        )
        row = await self._run(lambda db: db.execute(query).fetchone())
        return None if row is None or row[0] is None else float(row[0])

    async def delivered(self, webhook_id: int) -> None:
        def delete(db: sqlite3.Connection) -> bool:
            found = db.execute(
                "DELETE FROM webhooks WHERE id = ? RETURNING failed_at", (webhook_id,)
            ).fetchone()
            return found is not None and found[0] is not None

        was_dead = await self._run(delete)
        if was_dead:
            self._dead -= 1
        else:
            self._pending -= 1

    async def retry_later(
        self, webhook_id: int, attempts: int, next_attempt_at: float, error: str
    ) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE webhooks SET attempts = ?, next_attempt_at = ?, last_error = ?, "
                "claimed_until = NULL, claimed_by = NULL WHERE id = ?",
                (attempts, next_attempt_at, error, webhook_id),
            )
        )

    async def dead_letter(self, webhook_id: int, attempts: int, error: str, now: float) -> None:
        def update(db: sqlite3.Connection) -> bool:
            was = db.execute(
                "SELECT failed_at FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
            db.execute(
                "UPDATE webhooks SET attempts = ?, last_error = ?, claimed_until = NULL, "
                "claimed_by = NULL, failed_at = COALESCE(failed_at, ?) WHERE id = ?",
                (attempts, error, now, webhook_id),
            )
            return was is not None and was[0] is None

        if await self._run(update):
            self._pending -= 1
            self._dead += 1

    async def dead_letters(self, ids: Collection[int] | None = None) -> list[QueuedWebhook]:
        query = f"SELECT {_COLUMNS} FROM webhooks WHERE failed_at IS NOT NULL"
        params: list[int] = []
        if ids is not None:
            params = list(ids)
            query += f" AND id IN ({_placeholders(params)})"
        query += " ORDER BY id"
        rows = await self._run(lambda db: db.execute(query, params).fetchall())
        return [_row(row) for row in rows]


def _release_orphaned_claims(db: sqlite3.Connection) -> None:
    """Claims held by processes that are gone (killed mid-attempt) lapse now, not at lease end:
    a restarted server resends at once what its predecessor had in flight."""
    owners = [pid for (pid,) in db.execute("SELECT DISTINCT claimed_by FROM webhooks")]
    gone = [pid for pid in owners if pid is not None and not _alive(pid)]
    if gone:
        db.execute(
            "UPDATE webhooks SET claimed_until = NULL, claimed_by = NULL "
            f"WHERE claimed_by IN ({_placeholders(gone)})",
            gone,
        )


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a claim from an earlier process that had our pid: we just started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _counts(db: sqlite3.Connection) -> tuple[int, int]:
    pending, dead = db.execute(
        "SELECT COUNT(*) - COUNT(failed_at), COUNT(failed_at) FROM webhooks"
    ).fetchone()
    return int(pending), int(dead)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
