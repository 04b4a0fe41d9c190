"""The SQLite driver: one file (``<data_dir>/apps.sqlite3`` by default), the single-host store.

Every call runs on one thread of its own, so the event loop never waits on the file (a CLI
write holding the lock included). Changes made by other connections are noticed by polling
``PRAGMA data_version``, which moves whenever another connection commits: a read of a page
already in memory, cheap enough for every ``apps_poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from tidings.apps.codec import Row
from tidings.apps.database import AppDatabase, DuplicateApp, StoreUnavailable

OPEN_TIMEOUT = 10.0  # seconds other processes may hold the new file's first locks

T = TypeVar("T")
FILE_NAME = "apps.sqlite3"
SCHEMA_VERSION = 1
# Each entry takes the schema from the version before it to the next one.
MIGRATIONS = (
    """
    CREATE TABLE apps (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        settings TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )
    """,
)
_COLUMNS = "id, key, secret, enabled, settings"


def store_path(data_dir: str) -> Path:
    return Path(data_dir) / FILE_NAME


class SqliteAppDatabase(AppDatabase):
    kind = "SQLite"

    def __init__(self, path: str | Path, poll_interval: float = 0.5) -> None:
        super().__init__()
        self.path = Path(path)
        self.location = str(self.path.resolve())
        self._poll_interval = poll_interval
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._version = -1

    async def _call(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``function`` on the database's own thread; sqlite3 errors become StoreUnavailable,
        except the constraint errors the write methods turn into DuplicateApp themselves."""
        assert self._executor is not None, "open() the store first"

        def run() -> T:
            if self._db is None:
                self._db = self._open_file()
            return function(self._db)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, run)
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.Error, OSError) as error:
            raise StoreUnavailable(
                f"cannot use the app database {self.path} ({error}); set --data-dir, "
                "TIDINGS_DATA_DIR or [server] data_dir to a writable directory (or "
                "apps_database_url to none, for the config file's apps alone)"
            ) from None

    def _open_file(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The workers of --workers N open one file at once: switching a new file to WAL takes
        # a lock SQLite does not wait for (no busy handler), so try again for a while.
        deadline = time.monotonic() + OPEN_TIMEOUT
        for attempt in itertools.count(1):
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                _migrate(db)
            except sqlite3.OperationalError as error:
                db.close()
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(min(0.2, 0.01 * attempt))  # on the store's own thread
                continue
            except BaseException:
                db.close()
                raise
            return db
        raise AssertionError("unreachable")

    async def _connect(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tidings-apps-sqlite")
        try:
            await self._call(lambda db: None)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def _disconnect(self) -> None:
        if self._executor is None:
            return

        def close(db: sqlite3.Connection) -> None:
            db.close()
            self._db = None

        if self._db is not None:
            with contextlib.suppress(StoreUnavailable):
                await self._call(close)
        self._executor.shutdown(wait=False)
        self._executor = None

    async def _fetch(self) -> list[Row]:
        def read(db: sqlite3.Connection) -> list[Row]:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            rows = db.execute(f"SELECT {_COLUMNS} FROM apps ORDER BY id").fetchall()
            self._version = version
            return [Row(i, k, s, bool(e), settings) for i, k, s, e, settings in rows]

        return await self._call(read)

    async def _changed(self) -> bool:
        def version(db: sqlite3.Connection) -> int:
            return int(db.execute("PRAGMA data_version").fetchone()[0])

        return await self._call(version) != self._version

    async def _insert(self, row: Row) -> None:
        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT INTO apps ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (row.id, row.key, row.secret, int(row.enabled), row.settings),
            )

        try:
            await self._call(insert)
        except sqlite3.IntegrityError as error:
            raise _duplicate(error, row) from None

    async def _update(self, row: Row) -> bool:
        def update(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE apps SET key = ?, secret = ?, enabled = ?, settings = ?, "
                "updated_at = CURRENT_TIMESTAMP WHERE id = ?",
                (row.key, row.secret, int(row.enabled), row.settings, row.id),
            )
            return cursor.rowcount > 0

        try:
            return await self._call(update)
        except sqlite3.IntegrityError as error:
            raise _duplicate(error, row) from None

    async def _delete(self, app_id: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM apps WHERE id = ?", (app_id,)).rowcount > 0

        return await self._call(delete)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                changed = await self._changed()
            except StoreUnavailable as error:
                self.unreachable(error)
                continue
            if changed or self.outage:
                await self.refresh_quietly()


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION (``PRAGMA user_version`` holds the file's)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"schema version {version} is newer than this tidings knows ({SCHEMA_VERSION}); "
            "upgrade tidings"
        )
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read again inside the lock: another process may have migrated meanwhile.
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for statement in MIGRATIONS[version:]:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _duplicate(error: sqlite3.IntegrityError, row: Row) -> DuplicateApp:
    if "apps.key" in str(error):
        return DuplicateApp(f"an app with key {row.key!r} already exists; choose another key")
    return DuplicateApp(f"an app with id {row.id!r} already exists; choose another id")
