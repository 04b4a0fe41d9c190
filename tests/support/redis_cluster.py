"""A real 3-master Redis Cluster for tests: Debian's redis-server in cluster mode on free
127.0.0.1 ports, no persistence, no replicas, formed by hand (CLUSTER ADDSLOTSRANGE + MEET)
and ready once every node says ``cluster_state:ok`` and all agree on the slot map.

It can also move a slot from one master to another while clients use it, the way an operator
resharding does (``migrate_slot``), and drop every pub/sub connection of one node
(``kill_pubsub_clients``)."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import RedisServer, wait_until
from tests.support.server import free_port

SLOTS = 16384
NODE_TIMEOUT_MS = 2000  # silence before a node thinks another is failing
FORM_TIMEOUT = 20.0  # a master refuses to call its state ok in its first 2 s anyway
MIGRATE_BATCH = 100  # keys per MIGRATE
MIGRATE_TIMEOUT_MS = 5000

SlotMap = dict[int, tuple[tuple[int, int], ...]]  # master's port -> its slot ranges


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _map(raw: Any) -> dict[str, Any]:
    """A map as redis-py hands it over (a dict, or RESP2's ``[key, value, …]``), text keys."""
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    return {_text(key): value for key, value in pairs}


class RedisClusterSetup:
    """``masters`` masters (3) owning equal shares of the slots; ``url`` is what tidings gets."""

    def __init__(self, masters: int = 3) -> None:
        ports: list[int] = []
        while len(ports) < 2 * masters:  # distinct, though each is free on its own
            if (port := free_port()) not in ports:
                ports.append(port)
        self.ports = ports[:masters]
        # Redis 7 lets the cluster bus have a port of its own instead of port + 10000, which
        # may be taken or out of range for a free port picked at random.
        self._bus_ports = ports[masters:]
        self.servers: list[RedisServer] = []
        self._clients: dict[int, redis.Redis] = {}
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every master as a seed (any one of them would do)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> RedisClusterSetup:
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-redis-cluster-")
        try:
            for port, bus in zip(self.ports, self._bus_ports, strict=True):
                self.servers.append(RedisServer(port, self._node_args(port, bus)).start())
                self._clients[port] = redis.Redis(port=port, socket_timeout=5)
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _node_args(self, port: int, bus: int) -> tuple[str, ...]:
        assert self._dir is not None
        return (
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(Path(self._dir.name) / f"nodes-{port}.conf"),  # the node rewrites it
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            "--cluster-port",
            str(bus),
            "--dir",
            self._dir.name,
        )

    def _form(self) -> None:
        """Slots split in equal ranges, distinct config epochs (as redis-cli gives them, so no
        collision has to be resolved first), then the first node meets the others."""
        share = SLOTS // len(self.ports)
        for index, port in enumerate(self.ports):
            self.command(port, "CLUSTER", "SET-CONFIG-EPOCH", index + 1)
            last = SLOTS - 1 if index == len(self.ports) - 1 else (index + 1) * share - 1
            self.command(port, "CLUSTER", "ADDSLOTSRANGE", index * share, last)
        for port, bus in zip(self.ports[1:], self._bus_ports[1:], strict=True):
            self.command(self.ports[0], "CLUSTER", "MEET", "127.0.0.1", port, bus)
        wait_until("the cluster did not form", self._formed, FORM_TIMEOUT)

    def _formed(self) -> bool:
        for port in self.ports:
            info = self.info(port)
            if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(
                len(self.ports)
            ):
                return False
        return self._agreed_map() is not None

    def stop(self) -> None:
        """Kill every node (no goodbye to clients, data and cluster config gone)."""
        for client in self._clients.values():
            client.close()
        self._clients = {}
        for server in self.servers:
            server.stop()
        self.servers = []
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisClusterSetup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- looking -----------------------------------------------------------------------------
    def client(self, port: int) -> redis.Redis:
        """A plain (non-cluster) client of one node: it answers for its own slots only."""
        return self._clients[port]

    def command(self, port: int, *args: object) -> Any:
        """One command to the node on ``port``, its reply as redis-py parses it."""
        return self.client(port).execute_command(*args)  # type: ignore[no-untyped-call]

    def info(self, port: int) -> dict[str, str]:
        text = _text(self.command(port, "CLUSTER", "INFO"))
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def node_id(self, port: int) -> str:
        return str(_text(self.command(port, "CLUSTER", "MYID")))

    def slot_map(self, port: int) -> SlotMap:
        """The masters and their slots as node ``port`` sees them (CLUSTER SHARDS)."""
        seen: SlotMap = {}
        for raw in self.command(port, "CLUSTER", "SHARDS"):
            shard = _map(raw)
            ranges = [int(bound) for bound in shard["slots"]]
            for node in (_map(each) for each in shard["nodes"]):
                if _text(node["role"]) == "master" and ranges:
                    seen[int(node["port"])] = tuple(zip(ranges[::2], ranges[1::2], strict=True))
        return seen

    def _agreed_map(self) -> SlotMap | None:
        """The slot map if every node sees the same one and it covers every slot, else None."""
        maps = [self.slot_map(port) for port in self.ports]
        if any(other != maps[0] for other in maps[1:]):
            return None
        covered = sum(end - start + 1 for ranges in maps[0].values() for start, end in ranges)
        return maps[0] if covered == SLOTS else None

    def slot_of(self, key: str) -> int:
        """CLUSTER KEYSLOT: the slot of ``key`` (of its ``{hash tag}`` if it has one)."""
        return int(self.command(self.ports[0], "CLUSTER", "KEYSLOT", key))

    def owner(self, slot: int) -> int:
        """The port of the master serving ``slot``, once all nodes agree on it."""
        found: list[int] = []

        def agreed() -> bool:
            port = self._serving(slot)
            if port is not None:
                found.append(port)
            return port is not None

        wait_until("the nodes do not agree on the slot map", agreed, FORM_TIMEOUT)
        return found[-1]

    def _serving(self, slot: int) -> int | None:
        """The master serving ``slot`` if every node agrees on the whole map now."""
        agreed = self._agreed_map()
        for port, ranges in (agreed or {}).items():
            if any(start <= slot <= end for start, end in ranges):
                return port
        return None

    def keys_in_slot(self, slot: int, port: int, count: int = MIGRATE_BATCH) -> list[bytes]:
        """Up to ``count`` keys of ``slot`` held by the node on ``port``."""
        found: list[bytes] = self.command(port, "CLUSTER", "GETKEYSINSLOT", slot, count)
        return found

    # -- doing -------------------------------------------------------------------------------
    def migrate_slot(
        self,
        slot: int,
        to_port: int,
        *,
        batch: int = MIGRATE_BATCH,
        between: Callable[[], object] | None = None,
    ) -> int:
        """Move ``slot`` and its keys live to the master on ``to_port``, as resharding does,
        ``batch`` keys per MIGRATE; returns how many keys moved. ``between`` is called once the
        slot is migrating and after each batch, to let traffic in while the slot is half moved:
        clients then get ASK (or TRYAGAIN, for a script whose keys are split), and MOVED after.
        """
        source = self.owner(slot)
        if source == to_port:
            raise ValueError(f"slot {slot} is on {to_port} already")
        target_id, source_id = self.node_id(to_port), self.node_id(source)
        self.command(to_port, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        self.command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        moved = 0
        if between is not None:
            between()
        # A key missing from a migrating source is created on the target (ASK), so the source
        # only empties: loop until it has nothing left in the slot.
        while keys := self.keys_in_slot(slot, source, batch):
            try:
                self.command(
                    source,
                    "MIGRATE",
                    "127.0.0.1",
                    to_port,
                    "",
                    0,
                    MIGRATE_TIMEOUT_MS,
                    "KEYS",
                    *keys,
                )
            except redis.ResponseError as error:
                # BUSYKEY: the target has the key too. Redis sends a command to the target
                # (ASK) when the keys it names are missing from the source, so a script that
                # writes keys it did not declare can create one there that the source still has.
                raise RuntimeError(f"MIGRATE {keys} to {to_port} failed: {error}") from error
            moved += len(keys)
            if between is not None:
                between()
        # The target first, so the source's MOVED never points at a node that refuses it.
        others = [port for port in self.ports if port not in (to_port, source)]
        for port in [to_port, source, *others]:
            self.command(port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        wait_until(f"slot {slot} did not move", lambda: self._serving(slot) == to_port, 10)
        return moved

    def kill_pubsub_clients(self, port: int) -> int:
        """CLIENT KILL TYPE pubsub on the node on ``port``; how many connections dropped."""
        return next(s for s in self.servers if s.port == port).kill_pubsub_clients()

    def flushall(self) -> None:
        """Every key gone, on every master."""
        for port in self.ports:
            self.client(port).flushall()


class _Spares:
    """Formed clusters handed out one by one, the next one forming in the background meanwhile:
    a master will not call its state ok in its first 2 s, which a suite starting a server (and
    a cluster of its own) for most tests would otherwise wait out every time."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="redis-cluster")
        self._next: concurrent.futures.Future[RedisClusterSetup] | None = None
        atexit.register(self.close)

    def take(self) -> RedisClusterSetup:
        spare = self._next or self._pool.submit(RedisClusterSetup().start)
        self._next = self._pool.submit(RedisClusterSetup().start)
        return spare.result()

    def close(self) -> None:
        if self._next is not None:
            with contextlib.suppress(Exception):  # one that failed to form left nothing running
                self._next.result().stop()
            self._next = None
        self._pool.shutdown()


_spares: _Spares | None = None


def started_cluster() -> RedisClusterSetup:
    """A formed cluster of one's own (to ``stop()`` when done), without the wait to form one."""
    global _spares
    if _spares is None:
        _spares = _Spares()
    return _spares.take()
