"""The store the server reads: config apps (read-only) over a database's, one lookup each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tidings.apps import App, Change
from tidings.apps.directory import AppDirectory
from tidings.apps.sqlite import SqliteAppDatabase
from tidings.config import DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET

CONFIGURED = App(id="100", key="configured", secret="s")
STORED = App(id="200", key="stored", secret="s")
DEV = App(id=DEV_APP_ID, key=DEV_APP_KEY, secret=DEV_APP_SECRET)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteAppDatabase]:
    store = SqliteAppDatabase(tmp_path / "apps.sqlite3")
    await store.open(follow=False)
    yield store
    await store.close()


async def test_config_and_database_apps_are_found_alike(database: SqliteAppDatabase) -> None:
    await database.add(STORED)
    apps = AppDirectory([CONFIGURED], database)
    assert apps.by_key("configured") == CONFIGURED
    assert apps.by_id("200") == STORED
    assert sorted(a.id for a in apps.all()) == ["100", "200"]


async def test_the_config_wins_over_a_database_app_with_its_key(
    database: SqliteAppDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    await database.add(App(id="300", key="configured", secret="other"))
    apps = AppDirectory([CONFIGURED], database)
    await database.refresh()
    assert apps.by_key("configured") == CONFIGURED
    assert apps.by_id("300") is None
    assert sum("app 300" in r.getMessage() for r in caplog.records) == 1


async def test_watchers_hear_of_database_changes(database: SqliteAppDatabase) -> None:
    apps = AppDirectory([CONFIGURED], database)
    seen: list[Change] = []
    apps.watch(seen.extend)
    await database.add(STORED)
    await database.remove("200")
    assert seen == [(None, STORED), (STORED, None)]


async def test_the_development_app_stands_in_only_while_no_app_is_stored(
    database: SqliteAppDatabase,
) -> None:
    apps = AppDirectory([], database, dev_app=DEV)
    assert apps.by_key(DEV_APP_KEY) == DEV
    await database.add(STORED)
    assert apps.by_key(DEV_APP_KEY) is None
    assert apps.all() == [STORED]
    await database.remove("200")
    assert apps.by_key(DEV_APP_KEY) == DEV
