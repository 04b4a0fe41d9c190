"""Start and stop the servers under test, each pinned to CPU 0 with taskset, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import redis
from tests.support.redis_sentinel import wait_until
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
SOKETI_SH = Path(os.environ.get("TIDINGS_BENCH_SOKETI_SH", "/work/shared/peers/soketi.sh"))
SERVER_CPU = "0"
HOST = "127.0.0.1"
TRIVIAL_C = ROOT / "bench" / "trivial_http.c"
BUILD_DIR = Path(tempfile.gettempdir()) / "tidings-bench-build"

# The benchmark app: enough headroom that no limit, rather than speed, decides a result. The
# data directory (webhook queue, SQLite app store) is the server's temp dir, not ./data.
TIDINGS_CONFIG = """\
[server]
host = "127.0.0.1"
port = {port}
shutdown_grace = 1.0
data_dir = "{data_dir}"

[[apps]]
id = "app-id"
key = "app-key"
secret = "app-secret"
enable_client_events = true
max_client_events_per_sec = -1
max_presence_members_per_channel = 20000
max_presence_member_size_in_kb = 10
max_event_payload_in_kb = 100
max_event_batch_size = 10
max_connections = -1
max_backend_events_per_sec = -1
# The history scenario's channels (docs/history.md); no other scenario uses these names.
history = [{{ channels = "history-*", max_events = 500, ttl = 3600 }}]
"""
TIDINGS_SERVER = TIDINGS_CONFIG[: TIDINGS_CONFIG.index("[[apps]]")]
BENCH_APP: dict[str, Any] = tomllib.loads(TIDINGS_CONFIG.format(port=0, data_dir="-"))["apps"][0]

SOKETI_ENV = {
    "SOKETI_PRESENCE_MAX_MEMBERS": "20000",
    # peers/soketi.sh turns user authentication on; soketi then closes every socket that has
    # not signed in after 30 s, which would cut idle and fan-out runs short.
    "SOKETI_USER_AUTHENTICATION_TIMEOUT": str(3600 * 1000),
    "SOKETI_EVENT_MAX_BATCH_SIZE": "10",
}


def free_port(pair_offset: int | None = None) -> int:
    """A free TCP port on loopback (and, if asked, with port + offset free too)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if pair_offset is None or port + pair_offset > 65535:
            if pair_offset is None:
                return port
            continue
        with socket.socket() as other, contextlib.suppress(OSError):
            other.bind((HOST, port + pair_offset))
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def _wait_ready(
    port: int,
    alive: subprocess.Popen[bytes] | None,
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    url = f"{'https' if tls else 'http'}://{HOST}:{port}/ready"
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"server exited early with status {alive.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=tls) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not become ready in {timeout:.0f} s")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


class ServerProcess(ABC):
    name: str

    def __init__(self) -> None:
        self.port = 0
        self.pid = 0
        self.tls: ssl.SSLContext | None = None  # how clients reach it, when it speaks TLS

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def version(self) -> str: ...

    def log_file(self) -> Path | None:
        return None

    def log_problems(self, since: int = 0) -> tuple[list[str], int]:
        """Warning, error and traceback lines the server logged after byte ``since``, and the
        log's current size (servers log nothing on the happy path at their default levels)."""
        path = self.log_file()
        if path is None or not path.exists():
            return [], since
        with open(path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        words = ("Traceback", "Error", "ERROR", "WARNING", "Exception")
        lines = [line for line in text.splitlines() if any(w in line for w in words)]
        return lines, since + len(text.encode())


class _Popened(ServerProcess):
    cpus = SERVER_CPU

    def __init__(self) -> None:
        super().__init__()
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir = tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-")
        self.log_path = Path(self.workdir.name) / "server.log"

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}

    def log_file(self) -> Path | None:
        return self.log_path

    def start(self) -> None:
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["taskset", "-c", self.cpus, *self.command()],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=self.environment(),
            )
        self.pid = self.process.pid  # taskset execs the server: same pid
        _wait_ready(self.port, self.process, 30.0, self.tls)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Tidings(_Popened):
    name = "tidings"

    def command(self) -> list[str]:
        config = Path(self.workdir.name) / "tidings.toml"
        config.write_text(self.config_text(Path(self.workdir.name) / "data"))
        # Warnings only, as soketi runs without --debug: no line per connection opened.
        return [
            *(sys.executable, "-m", "tidings", "--log-level", "warning"),
            *("serve", "--config", str(config)),
        ]

    def config_text(self, data_dir: Path) -> str:
        """The benchmark app in the config file, next to an (empty) SQLite app store."""
        return TIDINGS_CONFIG.format(port=self.port, data_dir=data_dir)

    def version(self) -> str:
        return tidings_version()


def tidings_version() -> str:
    """This checkout's commit, and whether src/ has changes not committed."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"tidings {commit}{' + uncommitted changes in src/' if dirty else ''}"


class TidingsTls(Tidings):
    """tidings serving wss:// and https:// itself, with a certificate from a private CA made
    for the run (trustme, a dev dependency): what TLS costs, next to plain tidings."""

    name = "tidings-tls"

    def command(self) -> list[str]:
        import trustme

        ca = trustme.CA()
        leaf = ca.issue_cert(HOST)
        cert, key = Path(self.workdir.name) / "cert.pem", Path(self.workdir.name) / "key.pem"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        self.tls = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
        return [*super().command(), "--tls-cert", str(cert), "--tls-key", str(key)]


class TidingsWorkers(Tidings):
    """``--workers 2`` sharing state through a redis-server of its own. The redis-server is a
    child of the supervisor (the shell execs it), so the CPU and memory figures include it.
    Not pinned: two workers need both cores, which they share with the load generator."""

    name = "tidings-2w"
    cpus = "0,1"

    def command(self) -> list[str]:
        redis_port = free_port()
        self.redis_pidfile = Path(self.workdir.name) / "redis.pid"
        launch = (
            f"redis-server --port {redis_port} --bind 127.0.0.1 --save '' --appendonly no "
            f'--pidfile {self.redis_pidfile} >/dev/null & exec "$0" "$@"'
        )
        redis_url = f"redis://127.0.0.1:{redis_port}"
        extra = ["--workers", "2", "--redis-url", redis_url]
        return ["bash", "-c", launch, *super().command(), *extra]

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(self.redis_pidfile.read_text()), signal.SIGTERM)


class TidingsConsole(Tidings):
    """tidings with a debug console open for the whole run (``bench/console_watcher.py``, on
    the load generator's CPU): what watching costs, next to plain ``tidings``."""

    name = "tidings-console"
    token = "bench-console-token"  # this throwaway server's only

    def command(self) -> list[str]:
        command = super().command()
        config = Path(command[-1])
        config.write_text(
            config.read_text().replace(
                "[server]\n", f'[server]\nconsole_token = "{self.token}"\n', 1
            )
        )
        return command

    def start(self) -> None:
        super().start()
        url = f"ws://{HOST}:{self.port}/console/stream?app=app-id&token={self.token}"
        self.watcher = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, "-m", "bench.console_watcher", url],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        assert self.watcher.stdout is not None
        if "watching" not in self.watcher.stdout.readline():  # connected, or it failed
            self.stop()
            raise RuntimeError(f"the console watcher could not open {url}")

    def stop(self) -> None:
        watcher, self.watcher = getattr(self, "watcher", None), None
        if watcher is not None:
            if watcher.poll() is None:
                watcher.terminate()
            summary, _ = watcher.communicate(timeout=10)
            with open(self.log_path, "a") as log:  # events read, dropped: in the server's log
                log.write(f"console watcher: {summary.strip()}\n")
        super().stop()


class TidingsBaseline(Tidings):
    """tidings from another checkout (``TIDINGS_BENCH_BASELINE``: a git worktree of the commit
    to compare with), to measure what a change costs, side by side in one run."""

    name = "tidings-base"

    def checkout(self) -> Path:
        path = os.environ.get("TIDINGS_BENCH_BASELINE")
        if not path or not (Path(path) / "src" / "tidings").is_dir():
            raise RuntimeError(
                "tidings-base needs TIDINGS_BENCH_BASELINE=<a checkout>, e.g. "
                "git worktree add /tmp/base <commit>"
            )
        return Path(path)

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "PYTHONPATH": str(self.checkout() / "src")}

    def version(self) -> str:
        commit = subprocess.run(
            ["git", "-C", str(self.checkout()), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return f"tidings {commit} (baseline)"


class TidingsScraped(Tidings):
    """tidings while a Prometheus-like scraper reads ``/metrics`` every second (Prometheus'
    default is every 15 s), so the figures include the counters and the scrapes."""

    name = "tidings-scraped"
    INTERVAL = 1.0

    def start(self) -> None:
        super().start()
        self._stop_scraping = threading.Event()
        self._scraper = threading.Thread(target=self._scrape, daemon=True)
        self._scraper.start()

    def _scrape(self) -> None:
        url = f"http://{HOST}:{self.port}/metrics"
        while not self._stop_scraping.wait(self.INTERVAL):
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()

    def stop(self) -> None:
        if hasattr(self, "_stop_scraping"):
            self._stop_scraping.set()
            self._scraper.join()
        super().stop()


class TidingsSentinel(Tidings):
    """``--workers 2`` on Redis behind Sentinel (a master, a replica, one sentinel of their
    own, children of the supervisor like tidings-2w's redis-server): what the gated publish and
    the replication stream cost, next to tidings-2w."""

    name = "tidings-2w-sentinel"
    cpus = "0,1"

    def command(self) -> list[str]:
        workdir = Path(self.workdir.name)
        master, replica, sentinel = free_port(), free_port(), free_port()
        self.pidfiles = [workdir / f"{name}.pid" for name in ("master", "replica", "sentinel")]
        for name in ("master", "replica"):
            (workdir / name).mkdir(exist_ok=True)
        conf = workdir / "sentinel.conf"
        conf.write_text(
            f"port {sentinel}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor bench 127.0.0.1 {master} 1\n"
        )
        common = "--bind 127.0.0.1 --save '' --appendonly no"
        master_pid, replica_pid, sentinel_pid = self.pidfiles
        launch = (
            f"redis-server --port {master} {common} --dir {workdir}/master "
            f"--pidfile {master_pid} >/dev/null & "
            f"redis-server --port {replica} {common} --dir {workdir}/replica "
            f"--replicaof 127.0.0.1 {master} --pidfile {replica_pid} >/dev/null & "
            f"redis-server {conf} --sentinel --pidfile {sentinel_pid} >/dev/null & "
            'exec "$0" "$@"'
        )
        self.sentinel = f"127.0.0.1:{sentinel}"
        return ["bash", "-c", launch, *super().command(), "--workers", "2"]

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "TIDINGS_REDIS_SENTINELS": self.sentinel,
            "TIDINGS_REDIS_SENTINEL_MASTER": "bench",
        }

    def stop(self) -> None:
        super().stop()
        for pidfile in self.pidfiles:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGTERM)


class TidingsNode(Tidings):
    """One node of a TidingsNodes target: ``tidings serve`` on its own port and data directory,
    pinned to the server CPU, sharing state with the other nodes through ``redis_url``."""

    name = "tidings-node"

    def __init__(self, redis_url: str, log_path: Path) -> None:
        super().__init__()
        self.redis_url = redis_url
        self.log_path = log_path  # one log for all the nodes of a target

    def command(self) -> list[str]:
        return [*super().command(), "--redis-url", self.redis_url]


class TidingsNodes(ServerProcess):
    """Separate ``tidings serve`` processes (nodes, each on its own port) on one redis-server of
    their own, for the nodes scenario, which sets how many run (``resize``). Nodes and Redis are
    pinned to the server CPU. Redis is a child of the load generator, not of a node, so that its
    CPU is counted apart from the nodes' (``redis_pids``)."""

    name = "tidings-redis"

    def __init__(self) -> None:
        super().__init__()
        self.workdir = tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-")
        self.log_path = Path(self.workdir.name) / "server.log"
        self.redis: list[RedisServer] = []
        self.nodes: list[TidingsNode] = []
        self.redis_url = ""

    def start(self) -> None:
        try:
            self.redis_url = self.start_redis()
            self.nodes = []
            self.port, self.pid = self.resize(1)[0]
        except BaseException:
            self.stop()
            raise

    def start_redis(self) -> str:
        """Start the Redis the nodes share; what ``--redis-url`` they get."""
        return self._redis_server(free_port()).url

    def _redis_server(self, port: int, *args: str) -> RedisServer:
        server = RedisServer(port, args)
        self.redis.append(server)
        server.start()
        assert server.process is not None
        # Started by this process, which runs on the load generator's CPU: move every thread.
        subprocess.run(
            ["taskset", "-a", "-p", "-c", SERVER_CPU, str(server.process.pid)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return server

    def resize(self, count: int) -> list[tuple[int, int]]:
        """Have the first ``count`` nodes running (start the missing ones, stop the others); the
        (port, pid) of each running node, node 1 first."""
        while len(self.nodes) < count:
            self.nodes.append(TidingsNode(self.redis_url, self.log_path))
        for node in self.nodes[count:]:
            node.stop()
        for node in self.nodes[:count]:
            if node.process is None:
                node.start()
        return [(node.port, node.pid) for node in self.nodes[:count]]

    def redis_pids(self) -> list[int]:
        return [server.process.pid for server in self.redis if server.process is not None]

    def stop(self) -> None:
        self.resize(0)
        for server in self.redis:
            server.stop()
        self.redis = []
        self.port = self.pid = 0

    def log_file(self) -> Path | None:
        return self.log_path

    def version(self) -> str:
        words = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()
        release = next((word[2:] for word in words if word.startswith("v=")), "?")
        return f"{tidings_version()} nodes on {self.redis_kind()} (redis-server {release})"

    def redis_kind(self) -> str:
        return "one redis-server"


class TidingsCluster(TidingsNodes):
    """TidingsNodes on a 3-master Redis Cluster of their own (no replicas), formed with
    ``redis-cli --cluster create``: the nodes use ``redis+cluster://`` and sharded pub/sub."""

    name = "tidings-cluster"
    MASTERS = 3
    BUS_OFFSET = 10000  # a cluster node's bus port is its port + 10000
    FORM_TIMEOUT = 30.0

    def start_redis(self) -> str:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is missing (Debian package redis-tools)")
        workdir = Path(self.workdir.name)
        seeds = []
        for _ in range(self.MASTERS):
            port = free_port(pair_offset=self.BUS_OFFSET)
            config = workdir / f"nodes-{port}.conf"  # the cluster node's own state file
            cluster = ("--cluster-enabled", "yes", "--cluster-config-file", str(config))
            self._redis_server(port, *cluster, "--dir", str(workdir))
            seeds.append(f"{HOST}:{port}")
        create = [cli, "--cluster", "create", *seeds, "--cluster-replicas", "0", "--cluster-yes"]
        created = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-500:]}")
        wait_until("the Redis Cluster did not form", self._formed, self.FORM_TIMEOUT)
        return "redis+cluster://" + ",".join(seeds)

    def _formed(self) -> bool:
        """Every master says ``cluster_state:ok``."""
        for server in self.redis:
            with redis.Redis(host=HOST, port=server.port, socket_timeout=2) as client:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
        return True

    def redis_kind(self) -> str:
        return f"a {self.MASTERS}-master Redis Cluster"


class TidingsStatic(Tidings):
    """Apps from the config file alone (``apps_database_url = "none"``): the baseline that the
    app database's cost is measured against."""

    name = "tidings-static"

    def config_text(self, data_dir: Path) -> str:
        text = super().config_text(data_dir)
        return text.replace("[server]\n", '[server]\napps_database_url = "none"\n', 1)


class TidingsSqlite(Tidings):
    """The benchmark app in the SQLite app store, added with ``tidings apps add``; the config
    file has none. Lookups come from the in-process snapshot; the file is polled meanwhile."""

    name = "tidings-sqlite"

    def store_settings(self) -> str:
        return ""

    def config_text(self, data_dir: Path) -> str:
        shutil.rmtree(data_dir, ignore_errors=True)  # a fresh store for each start
        text = TIDINGS_SERVER.format(port=self.port, data_dir=data_dir) + self.store_settings()
        config = Path(self.workdir.name) / "store.toml"
        config.write_text(text)
        app = dict(BENCH_APP)
        credentials = [f"--{name}={app.pop(name)}" for name in ("id", "key", "secret")]
        settings = [
            f"{name}={json.dumps(value) if isinstance(value, list) else str(value).lower()}"
            for name, value in app.items()
        ]
        add = [sys.executable, "-m", "tidings", "apps", "add", "--config", str(config)]
        subprocess.run(
            [*add, *credentials, *settings],
            check=True,
            capture_output=True,
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")},
        )
        return text


class TidingsPostgres(TidingsSqlite):
    """The benchmark app in a PostgreSQL app store: a throwaway cluster of its own (Debian's
    postgresql package; tests/support/postgres_server.py starts it), LISTENed to meanwhile.
    PostgreSQL is not pinned: it only answers the start-up read."""

    name = "tidings-postgres"

    def __init__(self) -> None:
        super().__init__()
        self.postgres: Any = None

    def store_settings(self) -> str:
        from tests.support.postgres_server import PostgresServer

        self.postgres = PostgresServer().start()
        return f'apps_database_url = "{self.postgres.create_database()}"\n'

    def stop(self) -> None:
        super().stop()
        if self.postgres is not None:
            self.postgres.close()
            self.postgres = None


class Trivial(_Popened):
    name = "trivial"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.trivial_server", "--port", str(self.port)]

    def version(self) -> str:
        return "bench/trivial_server.py (aiohttp, frame-once raw writes, no checks)"


def build_trivial_c() -> Path:
    """Compile bench/trivial_http.c (once per version of the source) and return the binary."""
    digest = hashlib.sha256(TRIVIAL_C.read_bytes()).hexdigest()[:16]
    binary = BUILD_DIR / f"trivial_http-{digest}"
    if binary.exists():
        return binary
    compiler = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if compiler is None:
        raise RuntimeError(
            "a C compiler is needed for the trivial-c ceiling server: `apt-get install gcc`, "
            "or run with --no-ceiling"
        )
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
    built = subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(partial), str(TRIVIAL_C)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise RuntimeError(f"{compiler} could not build {TRIVIAL_C}: {built.stderr[-1000:]}")
    partial.replace(binary)
    return binary


class TrivialC(_Popened):
    """The HTTP ceiling for wrk (http and channels scenarios): bench/trivial_http.c."""

    name = "trivial-c"

    def command(self) -> list[str]:
        return [str(build_trivial_c()), str(self.port)]

    def version(self) -> str:
        return "bench/trivial_http.c (C, epoll, one thread, no checks, gcc -O2)"


class Soketi(ServerProcess):
    name = "soketi"

    def _peers_dir(self) -> Path:
        base = os.environ.get("PEERS_DIR") or str(Path(tempfile.gettempdir()) / "peers")
        return Path(base) / "soketi"

    def start(self) -> None:
        # soketi.sh also binds UDP PORT (discovery) and TCP PORT + 1000 (metrics).
        self.port = free_port(pair_offset=1000)
        subprocess.run(
            ["taskset", "-c", SERVER_CPU, str(SOKETI_SH), "start", str(self.port)],
            check=True,
            env={**os.environ, **SOKETI_ENV},
            stdout=subprocess.DEVNULL,
            timeout=600,  # the first start installs soketi with npm
        )
        self.pid = int((self._peers_dir() / f"pid-{self.port}").read_text())
        _wait_ready(self.port, None, 30.0)

    def stop(self) -> None:
        if not self.pid:
            return
        subprocess.run([str(SOKETI_SH), "stop", str(self.port)], check=False, timeout=30)
        if not _wait_gone(self.pid, 10.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # the node process we started
            _wait_gone(self.pid, 5.0)
        self.pid = 0

    def log_file(self) -> Path | None:
        return self._peers_dir() / f"run-{self.port}.log" if self.port else None

    def version(self) -> str:
        package = self._peers_dir() / "node_modules/@soketi/soketi/package.json"
        try:
            import json

            return f"soketi {json.loads(package.read_text())['version']}"
        except (OSError, ValueError, KeyError):
            return "soketi (version unknown)"


SERVERS: dict[str, type[ServerProcess]] = {
    "tidings": Tidings,
    "tidings-2w": TidingsWorkers,
    "tidings-2w-sentinel": TidingsSentinel,
    # The nodes scenario's: 1, 2, 3 tidings nodes on one Redis, and on a Redis Cluster.
    "tidings-redis": TidingsNodes,
    "tidings-cluster": TidingsCluster,
    "tidings-base": TidingsBaseline,
    "tidings-scraped": TidingsScraped,
    "tidings-console": TidingsConsole,
    # Where apps come from (README: Apps in a database); "tidings" is the default, config
    # apps over an empty SQLite store.
    "tidings-static": TidingsStatic,
    "tidings-sqlite": TidingsSqlite,
    "tidings-postgres": TidingsPostgres,
    "tidings-tls": TidingsTls,
    "soketi": Soketi,
    "trivial": Trivial,
    "trivial-c": TrivialC,
}
# The load generator's ceiling for each scenario, run once (rep 1) unless --no-ceiling: the
# least a server can do there. The aiohttp one has no presence channels; the C one only serves
# what the wrk-driven scenarios need (HTTP triggers, public channels).
CEILINGS: dict[str, str | None] = {
    "presence": None,
    "http": "trivial-c",
    "channels": "trivial-c",
    "history": None,  # a tidings feature: tidings against itself without it
    "nodes": None,  # tidings nodes against themselves, one node against several
}
CEILING_DEFAULT = "trivial"
SUPPORTED: dict[str, set[str]] = {
    "soketi": {"idle", "fanout", "latency", "channels", "presence", "http"},  # no history
    "trivial": {"idle", "fanout", "latency", "channels", "http"},
    "trivial-c": {"idle", "channels", "http"},
    "tidings-redis": {"nodes"},
    "tidings-cluster": {"nodes"},
}
# Scenarios that run on these targets only.
ONLY_ON: dict[str, set[str]] = {"nodes": {"tidings-redis", "tidings-cluster"}}
