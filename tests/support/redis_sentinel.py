"""Redis behind Sentinel for tests: 1 master + 1 replica + 3 sentinels (Debian's redis-server
in sentinel mode), on free 127.0.0.1 ports, tuned so that a failover takes a few seconds."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support.redis_server import RedisServer, wait_until
from tests.support.server import free_port

MASTER_NAME = "tidings-test"
DOWN_AFTER_MS = 1000  # silence before a sentinel thinks the master is down
FAILOVER_TIMEOUT_MS = 5000


class SentinelSetup:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tidings-sentinel-")
        # The replica's copy of the master's data goes to a file: keep it out of the checkout.
        dirs = [Path(self._dir.name) / name for name in ("master", "replica")]
        for path in dirs:
            path.mkdir()
        self.master = RedisServer(args=("--dir", str(dirs[0])))
        replica_of = ("--replicaof", "127.0.0.1", str(self.master.port))
        self.replica = RedisServer(args=("--dir", str(dirs[1]), *replica_of))
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def addresses(self) -> list[str]:
        """What ``redis_sentinels`` takes."""
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def settings(self) -> dict[str, object]:
        return {"redis_sentinels": self.addresses, "redis_sentinel_master": MASTER_NAME}

    def start(self) -> SentinelSetup:
        try:
            self.master.start()
            self.replica.start()
            wait_until("the replica did not sync", self._replica_synced, 10)
            for port in self.sentinel_ports:
                self._sentinels.append(self._start_sentinel(port))
            # A failover needs a quorum of sentinels that know each other and the replica.
            wait_until("the sentinels did not find each other", self._sentinels_agree, 20)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_sentinel(self, port: int) -> subprocess.Popen[bytes]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/setup --system")
        conf = Path(self._dir.name) / f"sentinel-{port}.conf"  # sentinel rewrites it
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self._dir.name}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        log = open(Path(self._dir.name) / f"sentinel-{port}.log", "wb")  # noqa: SIM115
        try:
            return subprocess.Popen(
                [binary, str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()  # the child holds its own copy

    def _replica_synced(self) -> bool:
        with redis.Redis(port=self.replica.port, socket_timeout=1) as client:
            info = client.info("replication")
        return bool(info.get("master_link_status") == "up")

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=1) as client:
                state = client.sentinel_master(MASTER_NAME)
            if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                return False
        return True

    def master_port(self) -> int | None:
        """The master's port as the sentinels see it now (None while they disagree)."""
        ports = set()
        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=1) as client:
                ports.add(int(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
        return ports.pop() if len(ports) == 1 else None

    def master_client(self) -> redis.Redis:
        port = self.master_port()
        if port is None:
            raise RuntimeError("the sentinels do not agree on a master")
        return redis.Redis(port=port, socket_timeout=2)

    def kill_master(self) -> RedisServer:
        """SIGKILL the current master: no goodbye to clients, its data gone."""
        current = self.master if self.master.port == self.master_port() else self.replica
        current.stop()
        return current

    def fail_over(self) -> None:
        """SENTINEL FAILOVER: promote the replica; the old master lives on as its replica."""
        old = self.master_port()
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=2) as client:
            client.sentinel_failover(MASTER_NAME)
        wait_until("no failover", lambda: self.master_port() not in (old, None), 20)

    def kill_subscriptions(self) -> None:
        """CLIENT KILL TYPE pubsub on the master: every subscription connection drops."""
        with self.master_client() as client:
            client.client_kill_filter(_type="pubsub")

    def sentinel_log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(Path(self._dir.name).glob("*.log"))
        )

    def stop(self) -> None:
        for process in self._sentinels:
            process.kill()
            process.wait()
        self._sentinels = []
        self.replica.stop()
        self.master.stop()

    def __enter__(self) -> SentinelSetup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
