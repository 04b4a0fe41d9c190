"""A real 3-master Redis Cluster for tests: Debian's redis-server in cluster mode on free
127.0.0.1 ports, no persistence, formed by hand (CLUSTER ADDSLOTSRANGE + MEET, and CLUSTER
REPLICATE for replicas) and ready once every node says ``cluster_state:ok``, all agree on the
slot map, and each master's replicas are online and in sync.

It can also move a slot from one master to another while clients use it, the way an operator
resharding does (``migrate_slot``), drop every pub/sub connection of one node
(``kill_pubsub_clients``), and, with replicas, SIGKILL the master of a slot
(``kill_master_of``) and wait for the cluster to promote one of its replicas
(``wait_for_promotion``)."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

from tests.support.redis_server import RedisServer, wait_until
from tests.support.server import free_port

SLOTS = 16384
NODE_TIMEOUT_MS = 2000  # silence before a node thinks another is failing
# With replicas the same silence starts a failover: a master is declared failed after it and
# its replica wins the election about 1 s later, so a kill costs about 2 s of writes to its
# slots. (Without replicas a master thought failing puts the whole cluster down: keep 2 s.)
FAILOVER_NODE_TIMEOUT_MS = 1000
FORM_TIMEOUT = 20.0  # a master refuses to call its state ok in its first 2 s anyway
PROMOTION_TIMEOUT = 15.0  # failure detection, the election, and word of it reaching every node
MIGRATE_BATCH = 100  # keys per MIGRATE
MIGRATE_TIMEOUT_MS = 5000

T = TypeVar("T")
SlotMap = dict[int, tuple[tuple[int, int], ...]]  # master's port -> its slot ranges


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _map(raw: Any) -> dict[str, Any]:
    """A map as redis-py hands it over (a dict, or RESP2's ``[key, value, …]``), text keys."""
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    return {_text(key): value for key, value in pairs}


class RedisClusterSetup:
    """``masters`` masters (3) owning equal shares of the slots, each with ``replicas``
    replicas (0); ``url`` is what tidings gets.

    ``ports`` are the masters as formed and ``replicas[port]`` theirs; after a failover the
    slot map (``owner``, ``masters``) says who serves what."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        count = masters * (1 + replicas)
        ports: list[int] = []
        while len(ports) < 2 * count:  # distinct, though each is free on its own
            if (port := free_port()) not in ports:
                ports.append(port)
        self.ports = ports[:masters]
        self.replicas = {
            master: ports[masters + index * replicas : masters + (index + 1) * replicas]
            for index, master in enumerate(self.ports)
        }
        # Redis 7 lets the cluster bus have a port of its own instead of port + 10000, which
        # may be taken or out of range for a free port picked at random.
        self._bus = dict(zip(ports[:count], ports[count:], strict=True))
        self._node_timeout_ms = FAILOVER_NODE_TIMEOUT_MS if replicas else NODE_TIMEOUT_MS
        self.servers: list[RedisServer] = []
        self._clients: dict[int, redis.Redis] = {}
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every master as a seed (any one of them would do)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @property
    def all_ports(self) -> list[int]:
        """Every node as formed: the masters, then the replicas."""
        return list(self._bus)

    @property
    def live_ports(self) -> list[int]:
        """Every node not killed."""
        return [server.port for server in self.servers if server.process is not None]

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> RedisClusterSetup:
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-redis-cluster-")
        try:
            for port, bus in self._bus.items():
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
            str(self._node_timeout_ms),
            "--cluster-port",
            str(bus),
            "--dir",
            self._dir.name,
            "--dbfilename",  # a replica's full sync lands in a file, one per node
            f"dump-{port}.rdb",
            "--repl-diskless-sync-delay",  # a master sends its data to a new replica at once
            "0",
            # A replica counts as "loading" in CLUSTER SHARDS until its replication offset
            # moves; an idle master's pings to it (every 10 s by default) are what move it.
            "--repl-ping-replica-period",
            "1",
        )

    def _form(self) -> None:
        """Slots split in equal ranges, distinct config epochs (as redis-cli gives them, so no
        collision has to be resolved first), then the first node meets the others; once each
        replica knows its master, it replicates it."""
        share = SLOTS // len(self.ports)
        for index, port in enumerate(self.ports):
            self.command(port, "CLUSTER", "SET-CONFIG-EPOCH", index + 1)
            last = SLOTS - 1 if index == len(self.ports) - 1 else (index + 1) * share - 1
            self.command(port, "CLUSTER", "ADDSLOTSRANGE", index * share, last)
        for port in self.all_ports[1:]:
            self.command(self.all_ports[0], "CLUSTER", "MEET", "127.0.0.1", port, self._bus[port])
        if any(self.replicas.values()):
            wait_until("the nodes did not meet", self._all_known, FORM_TIMEOUT)
            for master, replicas in self.replicas.items():
                for replica in replicas:
                    self.command(replica, "CLUSTER", "REPLICATE", self.node_id(master))
        wait_until("the cluster did not form", self._formed, FORM_TIMEOUT)

    def _all_known(self, state: str | None = None) -> bool:
        """Every node knows every other (and says ``cluster_state:state``, if given)."""
        expected = str(len(self.all_ports))
        for port in self.all_ports:
            info = self.info(port)
            if info.get("cluster_known_nodes") != expected:
                return False
            if state is not None and info.get("cluster_state") != state:
                return False
        return True

    def _formed(self) -> bool:
        if not self._all_known("ok"):
            return False
        if any(self.replicas_seen(port) != self.replicas for port in self.all_ports):
            return False
        return self._agreed_map() is not None and all(
            self._in_sync(replica, master)
            for master, replicas in self.replicas.items()
            for replica in replicas
        )

    def _in_sync(self, replica: int, master: int) -> bool:
        """The replica has loaded its master's data and follows its stream of writes."""
        info = self.client(replica).info("replication")
        return info.get("master_port") == master and info.get("master_link_status") == "up"

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

    def _shards(self, port: int) -> list[tuple[list[int], list[dict[str, Any]]]]:
        """CLUSTER SHARDS as node ``port`` sees it: each shard's slot bounds and nodes."""
        shards = (_map(raw) for raw in self.command(port, "CLUSTER", "SHARDS"))
        return [
            ([int(bound) for bound in shard["slots"]], [_map(node) for node in shard["nodes"]])
            for shard in shards
        ]

    def slot_map(self, port: int) -> SlotMap:
        """The masters and their slots as node ``port`` sees them (CLUSTER SHARDS)."""
        seen: SlotMap = {}
        for ranges, nodes in self._shards(port):
            for node in nodes:
                if _text(node["role"]) == "master" and ranges:
                    seen[int(node["port"])] = tuple(zip(ranges[::2], ranges[1::2], strict=True))
        return seen

    def replicas_seen(self, port: int) -> dict[int, list[int]]:
        """Each master with slots and its online replicas, as node ``port`` sees them."""
        seen: dict[int, list[int]] = {}
        for ranges, nodes in self._shards(port):
            roles = {
                int(node["port"]): (_text(node["role"]), _text(node["health"])) for node in nodes
            }
            masters = [node for node, (role, _) in roles.items() if role == "master"]
            if ranges and len(masters) == 1:
                online = [node for node, role in roles.items() if role == ("replica", "online")]
                seen[masters[0]] = sorted(online)
        return seen

    def _agreed_map(self) -> SlotMap | None:
        """The slot map if every live node sees the same one and it covers every slot, else
        None."""
        maps = [self.slot_map(port) for port in self.live_ports]
        if any(other != maps[0] for other in maps[1:]):
            return None
        covered = sum(end - start + 1 for ranges in maps[0].values() for start, end in ranges)
        return maps[0] if covered == SLOTS else None

    def slot_of(self, key: str) -> int:
        """CLUSTER KEYSLOT: the slot of ``key`` (of its ``{hash tag}`` if it has one)."""
        return int(self.command(self.live_ports[0], "CLUSTER", "KEYSLOT", key))

    def owner(self, slot: int) -> int:
        """The port of the master serving ``slot``, once all nodes agree on it."""
        return self._once_agreed(lambda: self._serving(slot))

    def masters(self) -> list[int]:
        """The masters serving slots now, once all live nodes agree on them."""
        return self._once_agreed(lambda: sorted(self._agreed_map() or {}) or None)

    @staticmethod
    def _once_agreed(look: Callable[[], T | None]) -> T:
        """What ``look`` finds in the slot map once every live node sees the same one."""
        found: list[T] = []

        def agreed() -> bool:
            value = look()
            if value is not None:
                found.append(value)
            return value is not None

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
        others = [port for port in self.masters() if port not in (to_port, source)]
        for port in [to_port, source, *others]:
            self.command(port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        wait_until(f"slot {slot} did not move", lambda: self._serving(slot) == to_port, 10)
        return moved

    def kill_pubsub_clients(self, port: int) -> int:
        """CLIENT KILL TYPE pubsub on the node on ``port``; how many connections dropped."""
        return self._server(port).kill_pubsub_clients()

    def kill_master_of(self, slot: int) -> int:
        """SIGKILL the master serving ``slot`` (no goodbye to clients, its data gone with what
        it had not replicated yet); returns its port. Its replica takes over once the others
        agree it failed, ``wait_for_promotion`` says when."""
        port = self.owner(slot)
        if not self.replicas_seen(port).get(port):
            raise RuntimeError(f"the master on {port} has no replica online to take over")
        self._server(port).stop()
        self._clients.pop(port).close()
        return port

    def wait_for_promotion(
        self, slot: int, old_port: int, timeout: float = PROMOTION_TIMEOUT
    ) -> int:
        """Until another node serves ``slot`` in the view of every node left and they all
        say ``cluster_state:ok``; returns the new master's port."""
        promoted: list[int] = []

        def done() -> bool:
            if any(self.info(port).get("cluster_state") != "ok" for port in self.live_ports):
                return False
            promoted.append(self._serving(slot) or old_port)
            return promoted[-1] != old_port

        wait_until(f"no replica took over slot {slot} from {old_port}", done, timeout)
        return promoted[-1]

    def _server(self, port: int) -> RedisServer:
        return next(server for server in self.servers if server.port == port)

    def flushall(self) -> None:
        """Every key gone, on every master."""
        for port in self.masters():
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
