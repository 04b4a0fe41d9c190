"""The app store targets of bench/: the database ones serve the very app the config file gives
the others, so a difference in their figures is the store's and nothing else."""

from __future__ import annotations

from pathlib import Path

from bench.servers import TidingsSqlite, TidingsStatic

from tidings import config
from tidings.apps.sqlite import SqliteAppDatabase, store_path


async def test_the_sqlite_target_stores_the_config_files_app(tmp_path: Path) -> None:
    static = TidingsStatic()
    static.port = 7000
    expected = config.load(_written(tmp_path, static.config_text(tmp_path)))
    assert expected.server.apps_database_url == "none"

    target = TidingsSqlite()
    target.port = 7000
    text = target.config_text(tmp_path / "data")
    served = config.load(_written(tmp_path, text))
    assert served.dev_app  # no app in its config file
    store = SqliteAppDatabase(store_path(served.server.data_dir))
    await store.open(follow=False)
    try:
        assert store.all() == list(expected.apps)
    finally:
        await store.close()


def _written(directory: Path, text: str) -> Path:
    path = directory / f"config-{abs(hash(text))}.toml"
    path.write_text(text)
    return path
