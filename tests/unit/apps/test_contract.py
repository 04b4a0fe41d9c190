"""The app store contract, run against every driver.

Reads (``by_id``, ``by_key``, ``all``, ``ready``) hold for the static store and the databases;
writes and change notices for the databases: SQLite on a temp file, PostgreSQL on a real
server (one per run, a fresh database per test). "Another node" is a second store opened on the
same database, as a second tidings process would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres_server import PostgresServer
from tidings.apps import App, AppStore, Change, StaticAppStore, WebhookTarget
from tidings.apps.database import AppDatabase, DuplicateApp, UnknownApp
from tidings.apps.postgres import PostgresAppDatabase
from tidings.apps.sqlite import SqliteAppDatabase
from tidings.config import WEBHOOK_EVENT_TYPES

ONE = App(id="1", key="key-one", secret="secret-one")
TWO = App(id="2", key="key-two", secret="secret-two", enabled=False)
# Every setting away from its default: what the config file can say, a database must keep.
EVERYTHING = App(
    id="3",
    key="key-three",
    secret="secret-three",
    enabled=False,
    enable_client_events=True,
    enable_user_authentication=True,
    user_authentication_timeout=12.5,
    enable_subscription_count=True,
    max_connections=7,
    max_backend_events_per_sec=70,
    max_client_events_per_sec=3,
    max_read_req_per_sec=9,
    max_presence_members_per_channel=11,
    max_presence_member_size_in_kb=2.5,
    max_channel_name_length=150,
    max_event_channels_at_once=5,
    max_event_name_length=120,
    max_event_payload_in_kb=20.0,
    max_event_batch_size=4,
    cache_ttl=60.0,
    webhooks=(
        WebhookTarget("https://hooks.example/a", WEBHOOK_EVENT_TYPES),
        WebhookTarget(
            "http://127.0.0.1:9/b",
            ("channel_occupied", "member_added"),
            "presence-",
            (("X-Token", "t"),),
        ),
    ),
)
# SQLite is polled; the promise for a running node is 2 seconds.
POLL_INTERVAL = 0.5
PROPAGATION = 2.0


class Databases:
    """Opens stores of one kind on one database, and writes to it behind their back."""

    def __init__(self, kind: str, tmp_path: Path, postgres: PostgresServer | None) -> None:
        self.kind = kind
        self.path = tmp_path / "apps.sqlite3"
        self.url = postgres.create_database() if postgres is not None else ""
        self.opened: list[AppDatabase] = []

    async def open(self, follow: bool = True) -> AppDatabase:
        store: AppDatabase
        if self.kind == "sqlite":
            store = SqliteAppDatabase(self.path, poll_interval=POLL_INTERVAL)
        else:
            store = PostgresAppDatabase(self.url, refresh_interval=30.0)
        await store.open(follow=follow)
        self.opened.append(store)
        return store

    def execute(self, statement: str) -> None:
        """SQL from outside tidings (someone with sqlite3 or psql)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as db:
                db.execute(statement)
        else:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(statement.replace("apps", "tidings_apps"))  # type: ignore[arg-type]

    async def close(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    postgres = request.getfixturevalue("postgres_server") if request.param != "sqlite" else None
    found = Databases(request.param, tmp_path, postgres)
    yield found
    await found.close()


@pytest.fixture(params=["static", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AppStore]:
    """A store holding ONE and TWO, of each kind."""
    if request.param == "static":
        yield StaticAppStore([ONE, TWO])
        return
    postgres = request.getfixturevalue("postgres_server") if request.param != "sqlite" else None
    found = Databases(request.param, tmp_path, postgres)
    database = await found.open()
    await database.add(ONE)
    await database.add(TWO)
    yield database
    await found.close()


class Changes:
    """What a store's watchers were told, waited for rather than slept on."""

    def __init__(self, store: AppStore) -> None:
        self.seen: list[Change] = []
        self._arrived = asyncio.Event()
        store.watch(self._record)

    def _record(self, changes: list[Change]) -> None:
        self.seen.extend(changes)
        self._arrived.set()

    async def until(self, check: Callable[[], bool], timeout: float = PROPAGATION) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self._arrived.clear()
                await self._arrived.wait()


# -- reads: every driver --------------------------------------------------------------------
async def test_finds_an_app_by_id_and_by_key(store: AppStore) -> None:
    assert store.by_id("1") == ONE
    assert store.by_key("key-two") == TWO
    assert store.by_id("key-one") is None
    assert store.by_key("1") is None
    assert store.by_id("9") is None


async def test_lists_every_app(store: AppStore) -> None:
    assert sorted(store.all(), key=lambda app: app.id) == [ONE, TWO]


async def test_is_ready_once_read(store: AppStore) -> None:
    assert store.ready()


async def test_a_disabled_app_is_found_and_says_so(store: AppStore) -> None:
    found = store.by_key("key-two")
    assert found is not None and not found.enabled


# -- writes: the databases ------------------------------------------------------------------
async def test_every_setting_survives_the_database(databases: Databases) -> None:
    await (await databases.open()).add(EVERYTHING)
    again = await databases.open()
    assert again.by_id("3") == EVERYTHING
    assert again.by_key("key-three") == EVERYTHING


async def test_a_taken_id_or_key_is_refused_and_named(databases: Databases) -> None:
    store = await databases.open()
    await store.add(ONE)
    with pytest.raises(DuplicateApp, match="id '1'"):
        await store.add(App(id="1", key="other", secret="s"))
    with pytest.raises(DuplicateApp, match="key 'key-one'"):
        await store.add(App(id="5", key="key-one", secret="s"))
    await store.add(TWO)
    with pytest.raises(DuplicateApp, match="key 'key-one'"):
        await store.update(App(id="2", key="key-one", secret="s"))
    assert sorted(a.id for a in store.all()) == ["1", "2"]


async def test_an_update_replaces_the_app_and_its_key(databases: Databases) -> None:
    store = await databases.open()
    await store.add(ONE)
    changed = App(id="1", key="key-new", secret="secret-new", max_connections=2)
    await store.update(changed)
    assert store.by_id("1") == changed
    assert store.by_key("key-new") == changed
    assert store.by_key("key-one") is None


async def test_unknown_ids_are_refused(databases: Databases) -> None:
    store = await databases.open()
    with pytest.raises(UnknownApp, match="'9'"):
        await store.update(App(id="9", key="k", secret="s"))
    with pytest.raises(UnknownApp, match="'9'"):
        await store.remove("9")


async def test_a_removed_app_is_gone(databases: Databases) -> None:
    store = await databases.open()
    await store.add(ONE)
    await store.add(TWO)
    await store.remove("1")
    assert store.by_id("1") is None
    assert store.by_key("key-one") is None
    assert store.all() == [TWO]


async def test_watchers_hear_of_additions_changes_and_removals(databases: Databases) -> None:
    store = await databases.open()
    changes = Changes(store)
    await store.add(ONE)
    rotated = App(id="1", key="key-one", secret="rotated")
    await store.update(rotated)
    await store.remove("1")
    assert changes.seen == [(None, ONE), (ONE, rotated), (rotated, None)]


async def test_an_unchanged_refresh_tells_nobody(databases: Databases) -> None:
    store = await databases.open()
    await store.add(ONE)
    changes = Changes(store)
    await store.refresh()
    assert changes.seen == []


async def test_changes_reach_another_node_within_two_seconds(databases: Databases) -> None:
    writer, reader = await databases.open(follow=False), await databases.open()
    changes = Changes(reader)
    for step, write, check in _story(writer, reader):
        await write()
        await changes.until(check)
        assert check(), step


def _story(
    writer: AppDatabase, reader: AppDatabase
) -> list[tuple[str, Callable[[], Awaitable[None]], Callable[[], bool]]]:
    disabled = App(id="1", key="key-one", secret="secret-one", enabled=False)
    return [
        ("added", lambda: writer.add(ONE), lambda: reader.by_key("key-one") == ONE),
        ("disabled", lambda: writer.update(disabled), lambda: reader.by_id("1") == disabled),
        ("removed", lambda: writer.remove("1"), lambda: reader.by_id("1") is None),
    ]


async def test_a_failing_watcher_stops_neither_the_others_nor_the_following(
    databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    writer, reader = await databases.open(follow=False), await databases.open()

    def broken(changes: list[Change]) -> None:
        raise RuntimeError("a bug in one watcher")

    reader.watch(broken)
    changes = Changes(reader)
    await writer.add(ONE)
    await changes.until(lambda: reader.by_id("1") == ONE)
    await writer.add(TWO)
    await changes.until(lambda: reader.by_id("2") == TWO)
    assert "applying an app change failed" in caplog.text


async def test_changes_made_outside_tidings_are_noticed(databases: Databases) -> None:
    store = await databases.open()
    changes = Changes(store)
    databases.execute(
        "INSERT INTO apps (id, key, secret, enabled, settings) "
        "VALUES ('8', 'key-8', 'secret-8', true, '{\"max_connections\": 4}')"
    )
    await changes.until(lambda: store.by_id("8") is not None)
    assert store.by_key("key-8") == App(id="8", key="key-8", secret="secret-8", max_connections=4)


async def test_an_invalid_row_is_left_out_and_logged_once(
    databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    store = await databases.open(follow=False)
    await store.add(ONE)
    await store.add(TWO)
    databases.execute("UPDATE apps SET settings = '{\"max_connections\": \"lots\"}' WHERE id = '1'")
    await store.refresh()
    await store.refresh()
    assert store.by_id("1") is None
    assert store.by_id("2") == TWO
    problems = [r.getMessage() for r in caplog.records if "max_connections" in r.getMessage()]
    assert len(problems) == 1
    assert "app '1'" in problems[0] and "must be a number" in problems[0]


async def test_the_schema_is_created_once_and_kept(databases: Databases) -> None:
    first = await databases.open(follow=False)
    await first.add(ONE)
    await first.close()
    second, third = await asyncio.gather(databases.open(), databases.open())
    assert second.by_id("1") == ONE
    assert third.by_id("1") == ONE
