"""``--workers N``: one scrape of any worker gives the whole host's figures.

Every worker writes its metric families to ``<dir>/<pid>.json`` once a second (the supervisor
makes the directory and passes it in ``TIDINGS_METRICS_DIR``); the worker that is scraped adds
its own live families to the others' files. Counters and histograms of a worker that has gone
are kept, as prometheus-client's multiprocess mode does, so totals never go back; its gauges
are dropped, since what it held open is gone with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.core import Metric

from tidings.server.workers import METRICS_DIR_ENV

INTERVAL = 1.0
# Per-process facts that adding up would make meaningless: the scraped worker's own stand.
_NOT_ADDED = frozenset({"process_start_time_seconds", "process_max_fds"})
# Facts about the cluster that every worker sees alike: the highest, not the sum.
_HIGHEST = frozenset({"tidings_cluster_nodes"})
log = logging.getLogger("tidings.metrics")

Snapshot = list[dict[str, Any]]


def to_snapshot(families: Iterable[Metric]) -> Snapshot:
    return [
        {
            "name": family.name,
            "help": family.documentation,
            "type": family.type,
            "unit": family.unit,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
        for family in families
    ]


def merge(own: list[Metric], others: Iterable[tuple[Snapshot, bool]]) -> list[Metric]:
    """``own`` plus each other worker's snapshot (with whether that worker is alive)."""
    totals: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    shape: dict[str, tuple[str, str, str]] = {}
    for family in own:
        shape[family.name] = (family.documentation, family.type, family.unit)
        values = totals[family.name] = {}
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = values.get(key, 0.0) + sample.value
    for snapshot, alive in others:
        for entry in snapshot:
            name, kind = entry["name"], entry["type"]
            if name in _NOT_ADDED or (kind == "gauge" and not alive):
                continue
            shape.setdefault(name, (entry["help"], kind, entry["unit"]))
            values = totals.setdefault(name, {})
            highest = name in _HIGHEST
            for sample_name, labels, value in entry["samples"]:
                key = (sample_name, tuple(sorted(labels.items())))
                before = values.get(key, 0.0)
                values[key] = max(before, value) if highest else before + value
    merged = []
    for name, values in totals.items():
        documentation, kind, unit = shape[name]
        family = Metric(name, documentation, kind, unit)
        for (sample_name, labels), value in values.items():
            family.add_sample(sample_name, dict(labels), value)
        merged.append(family)
    return merged


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerShare:
    def __init__(self, directory: Path, families: Callable[[], list[Metric]]) -> None:
        self.directory = directory
        self._families = families
        self._pid = os.getpid()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_environment(cls, families: Callable[[], list[Metric]]) -> WorkerShare | None:
        directory = os.environ.get(METRICS_DIR_ENV)
        return cls(Path(directory), families) if directory else None

    def start(self) -> None:
        self._write()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._write(reschedule=False)  # the final counters, for the totals

    def _write(self, reschedule: bool = True) -> None:
        try:
            data = orjson.dumps(to_snapshot(self._families()))
            path = self.directory / f"{self._pid}.json"
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(data)
            temporary.replace(path)
        except Exception:  # metrics must never take a worker down
            log.exception("could not write this worker's metrics to %s", self.directory)
        if reschedule:
            self._timer = asyncio.get_running_loop().call_later(INTERVAL, self._write)

    def others(self) -> list[tuple[Snapshot, bool]]:
        found = []
        for path in self.directory.glob("*.json"):
            if not path.stem.isdigit() or int(path.stem) == self._pid:
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                found.append((orjson.loads(path.read_bytes()), _alive(int(path.stem))))
        return found
