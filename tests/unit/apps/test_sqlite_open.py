"""``--workers N`` on one host: N processes open (and create) the same SQLite app store at the
same moment, and every one of them gets it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tidings.apps.sqlite import SqliteAppDatabase

PROCESSES = 8


def open_store(path: str, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait()  # all at once, as workers starting together do
    SqliteAppDatabase(path)._open_file().close()


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = str(tmp_path / f"round-{round_}" / "apps.sqlite3")
        start = context.Barrier(PROCESSES)
        processes = [
            context.Process(target=open_store, args=(path, start)) for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        assert [process.exitcode for process in processes] == [0] * PROCESSES
