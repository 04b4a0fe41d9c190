"""Which app store ``apps_database_url`` selects, and what a wrong one is told."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tidings.apps.choose import database_for
from tidings.apps.postgres import PostgresAppDatabase
from tidings.apps.sqlite import SqliteAppDatabase
from tidings.config import ConfigError, ServerSettings

BASE = ServerSettings(data_dir="/srv/tidings")


def chosen(url: str, **settings: float) -> object:
    return database_for(dataclasses.replace(BASE, apps_database_url=url, **settings))


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("", Path("/srv/tidings/apps.sqlite3")),
        ("sqlite:///var/lib/apps.db", Path("/var/lib/apps.db")),
        ("sqlite:relative/apps.db", Path("relative/apps.db")),
    ],
)
def test_sqlite_is_the_default_and_takes_a_path(url: str, path: Path) -> None:
    store = chosen(url)
    assert isinstance(store, SqliteAppDatabase) and store.path == path


@pytest.mark.parametrize("url", ["postgresql://u:p@db:5432/apps", "postgres://u@db/apps"])
def test_postgresql_urls_choose_postgresql_and_hide_the_password(url: str) -> None:
    store = chosen(url)
    assert isinstance(store, PostgresAppDatabase)
    assert "p@" not in store.location and store.location.startswith("postgresql://u@db:")


@pytest.mark.parametrize("url", ["none", "NONE", " none "])
def test_none_means_no_database(url: str) -> None:
    assert chosen(url) is None


@pytest.mark.parametrize("url", ["mysql://db/apps", "sqlite:", "apps.sqlite3"])
def test_other_urls_are_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match=r"'apps_database_url' \(TIDINGS_APPS_DATABASE_URL\)"):
        chosen(url)


@pytest.mark.parametrize("name", ["apps_poll_interval", "apps_refresh_interval"])
def test_intervals_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigError, match=f"'{name}' must be > 0"):
        chosen("", **{name: 0.0})
