"""Pick the app store from the config: ``apps_database_url`` (TIDINGS_APPS_DATABASE_URL).

- ``""`` (the default): SQLite, ``<data_dir>/apps.sqlite3``;
- ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db``: SQLite, that file;
- ``postgresql://...`` (or ``postgres://``): PostgreSQL, for a cluster;
- ``none``: no database, the config file's and environment's apps only.
"""

from __future__ import annotations

from pathlib import Path

from tidings.apps.database import AppDatabase
from tidings.apps.directory import AppDirectory
from tidings.apps.store import AppStore, StaticAppStore
from tidings.config import Config, ConfigError, ServerSettings

NO_DATABASE = "none"
_SETTING = "'apps_database_url' (TIDINGS_APPS_DATABASE_URL)"


def database_for(server: ServerSettings) -> AppDatabase | None:
    """The configured database driver, not yet opened; None for ``none``."""
    url = server.apps_database_url.strip()
    for name in ("apps_poll_interval", "apps_refresh_interval"):
        if getattr(server, name) <= 0:
            raise ConfigError(f"[server] '{name}' must be > 0 seconds")
    if url.lower() == NO_DATABASE:
        return None
    if url.startswith(("postgresql://", "postgres://")):
        try:  # psycopg is the optional 'postgresql' extra
            from tidings.apps.postgres import PostgresAppDatabase
        except ImportError:
            raise ConfigError(
                f"{_SETTING} is a PostgreSQL URL, which needs psycopg: "
                "pip install 'tidings[postgresql]'"
            ) from None
        return PostgresAppDatabase(url, server.apps_refresh_interval)
    from tidings.apps.sqlite import SqliteAppDatabase, store_path

    if not url:
        return SqliteAppDatabase(store_path(server.data_dir), server.apps_poll_interval)
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:")
        path = path.removeprefix("//") if path.startswith("///") else path
        if path:
            return SqliteAppDatabase(Path(path), server.apps_poll_interval)
    raise ConfigError(
        f"{_SETTING} must be postgresql://user:password@host:5432/database, "
        f"sqlite:///path/to/apps.sqlite3, or none; got {url!r}"
    )


async def open_app_store(config: Config, *, follow: bool = True) -> AppStore:
    """The store ``tidings serve`` reads, opened and read once (StoreUnavailable if not);
    ``follow``: kept up to date afterwards (a one-off command reads it once)."""
    database = database_for(config.server)
    if database is None:
        return StaticAppStore(config.apps)
    await database.open(follow=follow)
    if config.dev_app:
        return AppDirectory((), database, dev_app=config.apps[0])
    return AppDirectory(config.apps, database)


async def close_app_store(apps: AppStore) -> None:
    if isinstance(apps, AppDirectory):
        await apps.database.close()
