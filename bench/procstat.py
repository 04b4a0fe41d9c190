"""What /proc says about a server's process tree and the machine: RSS, CPU time, busy time."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2 :].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def process_tree(root: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and its descendants (``tree``: a look at /proc already taken, to reuse)."""
    tree = _children() if tree is None else tree
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, ()))
    return found


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def tree_rss_bytes(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError):
            continue
        total += pages * PAGE
    return total


def tree_cpu_seconds(root: int) -> float:
    """User + system time of every live process in the tree (threads included)."""
    return trees_cpu_seconds([root])[0]


def trees_cpu_seconds(roots: Sequence[int]) -> list[float]:
    """``tree_cpu_seconds`` of each root, from one look at the process tree."""
    tree, seconds = _children(), []
    for root in roots:
        ticks = 0
        for pid in process_tree(root, tree):
            fields = _stat_fields(pid)
            if fields is not None:
                ticks += int(fields[11]) + int(fields[12])
        seconds.append(ticks / TICKS)
    return seconds


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def machine_busy_seconds() -> float:
    """Non-idle CPU time of the whole machine, all cores. Interrupt time is in it, and with
    tick-based accounting also in the stime of the process that was running, so "other" is only
    roughly what other work used: an upper bound when loopback traffic is heavy."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS


@dataclass(slots=True)
class CpuWindow:
    """CPU used between start() and stop(), as fractions of one core: server, us, everybody else.

    The server is the process tree of ``server_pid`` and, when it is several processes that are
    not one tree (the nodes scenario's tidings nodes and Redis), of each of ``more_pids`` too;
    after stop(), ``trees_pct`` has each tree's share, ``server_pid``'s first."""

    server_pid: int | None
    more_pids: tuple[int, ...] = ()
    trees_pct: list[float] = field(default_factory=list)
    _wall: float = 0.0
    _trees: list[float] = field(default_factory=list)
    _own: float = 0.0
    _busy: float = 0.0

    def _roots(self) -> list[int]:
        return [*([self.server_pid] if self.server_pid else []), *self.more_pids]

    def start(self) -> CpuWindow:
        self._wall = time.perf_counter()
        self._trees = trees_cpu_seconds(self._roots())
        self._own = own_cpu_seconds()
        self._busy = machine_busy_seconds()
        return self

    def stop(self, extra_loadgen_s: float = 0.0) -> dict[str, float]:
        """``extra_loadgen_s``: CPU the load generator used in other processes (wrk)."""
        wall = time.perf_counter() - self._wall
        trees = trees_cpu_seconds(self._roots())
        used = [after - before for before, after in zip(self._trees, trees, strict=True)]
        self.trees_pct = [100 * seconds / wall for seconds in used]
        server = sum(used)
        own = own_cpu_seconds() - self._own + extra_loadgen_s
        busy = machine_busy_seconds() - self._busy
        return {
            "seconds": wall,
            "server_cpu_pct": 100 * server / wall,
            "loadgen_cpu_pct": 100 * own / wall,
            "other_cpu_pct": max(0.0, 100 * (busy - server - own) / wall),
        }
