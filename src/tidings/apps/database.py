"""The writable app store: a database, read through an in-process snapshot.

Connect and API lookups never touch the database: they read a dictionary that the driver
replaces whenever the database changes (whoever changed it: this process, the CLI, another
node, or someone with ``psql``). A driver supplies the I/O, this class the snapshot, the
change notices and the outage bookkeeping (keep serving the last snapshot, log once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

from tidings.apps.app import App
from tidings.apps.codec import Row
from tidings.apps.store import Change, ChangeListener
from tidings.config import ConfigError

log = logging.getLogger("tidings.apps")


class StoreError(Exception):
    """A write the store refuses, worded for the person who asked for it."""


class UnknownApp(StoreError):
    pass


class DuplicateApp(StoreError):
    pass


class StoreUnavailable(Exception):
    """The database cannot be reached (or opened); the message says which and how to fix it."""


def diff(before: dict[str, App], after: dict[str, App]) -> list[Change]:
    changes: list[Change] = [(app, None) for app_id, app in before.items() if app_id not in after]
    for app_id, app in after.items():
        old = before.get(app_id)
        if old != app:
            changes.append((old, app))
    return changes


class Snapshot:
    """Apps indexed by id and key, replaced whole; listeners hear what each replacement
    changed. Lookups are one dict read: they run on every connect and API call."""

    def __init__(self) -> None:
        self._by_id: dict[str, App] = {}
        self._by_key: dict[str, App] = {}
        self._listeners: list[ChangeListener] = []

    def by_id(self, app_id: str) -> App | None:
        return self._by_id.get(app_id)

    def by_key(self, key: str) -> App | None:
        return self._by_key.get(key)

    def all(self) -> list[App]:
        return list(self._by_id.values())

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` with what changed after each change of the snapshot."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _replace(self, by_id: dict[str, App], by_key: dict[str, App]) -> None:
        changes = diff(self._by_id, by_id)
        self._by_id, self._by_key = by_id, by_key
        if changes:
            for listener in list(self._listeners):
                try:
                    listener(changes)
                except Exception:  # one listener's failure must not stop the others
                    log.exception("applying an app change failed")


FOLLOW_RETRY = 1.0  # seconds before the follower starts again after an unexpected error


class AppDatabase(Snapshot, ABC):
    kind: ClassVar[str]  # for messages: "SQLite", "PostgreSQL"
    location: str  # for messages: the file, or the URL without its password

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, tuple[Row, App]] = {}  # a row read before is not parsed again
        self._refused: set[Row] = set()  # invalid rows already logged
        self._follower: asyncio.Task[None] | None = None
        self._refreshing = asyncio.Lock()
        self.loaded = False  # a snapshot has been read at least once
        self.outage = False

    # -- what the server reads: the snapshot --------------------------------------------------
    def ready(self) -> bool:
        return self.loaded

    # -- life cycle ---------------------------------------------------------------------------
    async def open(self, *, follow: bool = True) -> None:
        """Connect, create or migrate the schema, read every app; then (``follow``) keep the
        snapshot up to date. StoreUnavailable if the database cannot be reached."""
        await self._connect()
        try:
            await self.refresh()
        except StoreUnavailable:
            await self._disconnect()
            raise
        if follow:
            self._follower = asyncio.create_task(self._keep_following(), name="apps-follower")

    async def _keep_following(self) -> None:
        """The driver's follower, started again should it ever fail: a snapshot that stopped
        following would go on serving apps that were changed or removed since."""
        while True:
            try:
                await self._follow()
            except Exception:
                log.exception("following the %s app database failed; starting again", self.kind)
            await asyncio.sleep(FOLLOW_RETRY)

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        await self._disconnect()

    async def refresh(self) -> None:
        """Read every app now and publish what changed. StoreUnavailable when unreachable."""
        async with self._refreshing:
            rows = await self._fetch()
            self._apply(rows)

    async def refresh_quietly(self) -> bool:
        """A refresh from the follower: an outage is logged once and the snapshot kept."""
        try:
            await self.refresh()
        except StoreUnavailable as error:
            self.unreachable(error)
            return False
        self.reachable()
        return True

    def unreachable(self, error: BaseException) -> None:
        if not self.outage:
            self.outage = True
            log.error(
                "the %s app database is unreachable (%s); serving the %d apps last read "
                "until it is back",
                self.kind,
                " ".join(str(error).split()) or type(error).__name__,  # libpq's are multi-line
                len(self._by_id),
            )

    def reachable(self) -> None:
        if self.outage:
            self.outage = False
            log.warning("the %s app database is reachable again", self.kind)

    # -- writes (tidings apps) ----------------------------------------------------------------
    async def add(self, app: App) -> None:
        await self._insert(Row.of(app))
        await self.refresh()

    async def update(self, app: App) -> None:
        """Replace the stored app of ``app.id`` (key, secret, enabled, settings)."""
        if not await self._update(Row.of(app)):
            raise UnknownApp(f"there is no app {app.id!r} in the app database")
        await self.refresh()

    async def remove(self, app_id: str) -> None:
        if not await self._delete(app_id):
            raise UnknownApp(f"there is no app {app_id!r} in the app database")
        await self.refresh()

    def _apply(self, rows: Sequence[Row]) -> None:
        known, by_id, by_key = self._rows, {}, {}
        parsed: dict[str, tuple[Row, App]] = {}
        for row in rows:
            previous = known.get(row.id)
            if previous is not None and previous[0] == row:
                app = previous[1]
            else:
                try:
                    app = row.app()
                except ConfigError as error:
                    if row not in self._refused:  # once per bad version of a row
                        self._refused.add(row)
                        log.error("%s; the app is left out until it is fixed", error)
                    continue
            parsed[row.id] = (row, app)
            by_id[app.id] = app
            by_key[app.key] = app
        self._rows, self.loaded = parsed, True
        self._replace(by_id, by_key)

    # -- what a driver supplies ---------------------------------------------------------------
    @abstractmethod
    async def _connect(self) -> None:
        """Open the database and create or migrate the schema; StoreUnavailable if not."""

    @abstractmethod
    async def _disconnect(self) -> None: ...

    @abstractmethod
    async def _fetch(self) -> list[Row]:
        """Every stored app; StoreUnavailable when the database cannot be read."""

    @abstractmethod
    async def _insert(self, row: Row) -> None:
        """DuplicateApp naming the id or key already taken."""

    @abstractmethod
    async def _update(self, row: Row) -> bool:
        """False when no app has the row's id; DuplicateApp for a key already taken."""

    @abstractmethod
    async def _delete(self, app_id: str) -> bool:
        """False when no app has that id."""

    @abstractmethod
    async def _follow(self) -> None:
        """Until cancelled: notice changes made elsewhere and ``refresh_quietly``."""
