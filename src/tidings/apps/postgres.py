"""The PostgreSQL driver: one database shared by every node of a cluster (psycopg 3).

A trigger on ``tidings_apps`` sends ``NOTIFY tidings_apps`` for every committed change, however
it was made; each node LISTENs on a connection of its own and re-reads the table when told,
and in full every ``apps_refresh_interval`` in case a notice was lost (they are not queued for
a node that was disconnected). Queries go through a second connection, opened again on demand
after an outage. No connection pool: a node reads the table only when it changed, and a pool
would log every failed reconnection during an outage, which must be logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors

from tidings.apps.codec import Row
from tidings.apps.database import AppDatabase, DuplicateApp, StoreUnavailable

log = logging.getLogger("tidings.apps")
T = TypeVar("T")
CHANNEL = "tidings_apps"
SCHEMA_VERSION = 1
CONNECT_TIMEOUT = 5  # seconds, libpq's connect_timeout
RECONNECT_DELAY = 1.0
# Taken while migrating, so nodes starting together migrate once, one after the other.
MIGRATION_LOCK = 0x7469_6469  # "tidi"
MIGRATIONS = (
    """
    CREATE TABLE tidings_apps (
        id text PRIMARY KEY,
        key text NOT NULL UNIQUE,
        secret text NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        settings jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE FUNCTION tidings_apps_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('tidings_apps', OLD.id);
        ELSE
            PERFORM pg_notify('tidings_apps', NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER tidings_apps_changed AFTER INSERT OR UPDATE OR DELETE ON tidings_apps
        FOR EACH ROW EXECUTE FUNCTION tidings_apps_notify();
    """,
)
_COLUMNS = "id, key, secret, enabled, settings::text"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured apps_database_url"
    user, host = info.get("user", ""), info.get("host", "localhost")
    return f"postgresql://{user}@{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"


# Where the URL says nothing else. TCP keepalives: a listening connection whose peer vanished
# without a word (a NAT dropping idle flows) would otherwise wait for notices forever.
CONNECTION_DEFAULTS = {
    "connect_timeout": str(CONNECT_TIMEOUT),
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "application_name": "tidings",
}


def with_defaults(url: str) -> str:
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return url  # connecting will say what is wrong with it
    missing = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
    return psycopg.conninfo.make_conninfo(url, **missing)


class PostgresAppDatabase(AppDatabase):
    kind = "PostgreSQL"

    def __init__(self, url: str, refresh_interval: float = 30.0) -> None:
        super().__init__()
        self._url = url
        self._conninfo = with_defaults(url)
        self.location = redact(url)
        self._refresh_interval = refresh_interval
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """``work`` on the query connection (opened if need be); a lost connection is dropped,
        to be opened again next time, and reported as StoreUnavailable."""
        async with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connection()
                return await work(self._conn)
            except errors.IntegrityError:
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as error:
                await self._drop_connection()
                raise StoreUnavailable(
                    f"cannot reach the app database {self.location} ({_text(error)}); check "
                    "apps_database_url (TIDINGS_APPS_DATABASE_URL) and that PostgreSQL is running"
                ) from None
            except psycopg.Error as error:  # reachable, but refusing: a privilege, say
                await self._drop_connection()
                raise StoreUnavailable(
                    f"the app database {self.location} refused tidings ({_text(error)}); its "
                    "user needs to create and change the tidings_apps and tidings_schema tables"
                ) from None

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    async def _connect(self) -> None:
        await self._run(_migrate)

    async def _disconnect(self) -> None:
        async with self._lock:
            await self._drop_connection()

    async def _fetch(self) -> list[Row]:
        async def read(conn: psycopg.AsyncConnection[Any]) -> list[Row]:
            cursor = await conn.execute(f"SELECT {_COLUMNS} FROM tidings_apps ORDER BY id")
            return [Row(i, k, s, e, settings) for i, k, s, e, settings in await cursor.fetchall()]

        return await self._run(read)

    async def _insert(self, row: Row) -> None:
        async def insert(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO tidings_apps (id, key, secret, enabled, settings) "
                "VALUES (%s, %s, %s, %s, %s::jsonb)",
                (row.id, row.key, row.secret, row.enabled, row.settings),
            )

        try:
            await self._run(insert)
        except errors.UniqueViolation as error:
            raise _duplicate(error, row) from None

    async def _update(self, row: Row) -> bool:
        async def update(conn: psycopg.AsyncConnection[Any]) -> bool:
            cursor = await conn.execute(
                "UPDATE tidings_apps SET key = %s, secret = %s, enabled = %s, "
                "settings = %s::jsonb, updated_at = now() WHERE id = %s",
                (row.key, row.secret, row.enabled, row.settings, row.id),
            )
            return cursor.rowcount > 0

        try:
            return await self._run(update)
        except errors.UniqueViolation as error:
            raise _duplicate(error, row) from None

    async def _delete(self, app_id: str) -> bool:
        async def delete(conn: psycopg.AsyncConnection[Any]) -> bool:
            cursor = await conn.execute("DELETE FROM tidings_apps WHERE id = %s", (app_id,))
            return cursor.rowcount > 0

        return await self._run(delete)

    async def _follow(self) -> None:
        while True:
            try:
                listener = await self._connection()
            except (psycopg.Error, OSError) as error:
                self.unreachable(error)
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            try:
                await listener.execute(f"LISTEN {CHANNEL}")
                # The query connection may have died with the listener without knowing it yet.
                await self._disconnect()
                # Whatever changed while nobody listened (the first time: since open()).
                await self.refresh_quietly()
                while True:
                    # Soon again after a failed read; else at the latest after the interval.
                    wait = RECONNECT_DELAY if self.outage else self._refresh_interval
                    async for _ in listener.notifies(timeout=wait, stop_after=1):
                        pass
                    # A notice, or the periodic full read: either way read the table again.
                    await self.refresh_quietly()
            except (psycopg.Error, OSError) as error:
                self.unreachable(error)
            finally:
                with contextlib.suppress(Exception):
                    await listener.close()
            await asyncio.sleep(RECONNECT_DELAY)


async def _migrate(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS tidings_schema (version integer NOT NULL)")
        cursor = await conn.execute("SELECT max(version) FROM tidings_schema")
        found = await cursor.fetchone()
        version = found[0] if found is not None and found[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the app database's schema version {version} is newer than this tidings "
                f"knows ({SCHEMA_VERSION}); upgrade tidings"
            )
        for statement in MIGRATIONS[version:]:
            await conn.execute(statement)
        if version < SCHEMA_VERSION:
            await conn.execute("DELETE FROM tidings_schema")
            await conn.execute("INSERT INTO tidings_schema VALUES (%s)", (SCHEMA_VERSION,))


def _text(error: BaseException) -> str:
    """libpq's messages run over several lines; one line for a log or a terminal."""
    return " ".join(str(error).split()) or type(error).__name__


def _duplicate(error: errors.UniqueViolation, row: Row) -> DuplicateApp:
    if error.diag.constraint_name == "tidings_apps_key_key":
        return DuplicateApp(f"an app with key {row.key!r} already exists; choose another key")
    return DuplicateApp(f"an app with id {row.id!r} already exists; choose another id")
