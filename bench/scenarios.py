"""The six scenarios, and the opt-in history and nodes ones. Each runs against one freshly
started server (the nodes one: a set of tidings nodes and their Redis) and returns, per case, a
flat dict of metrics. Every loop here is bounded in count and in time.
The HTTP API load of the http, channels and history scenarios comes from wrk (bench/wrk.py),
the rest from bench/loadgen.py."""

from __future__ import annotations

import asyncio
import math
import os
import random
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from bench import pusher_wire as wire
from bench.loadgen import (
    SAMPLE_EVERY,
    ApiClient,
    Subscriber,
    Tally,
    Target,
    close_all,
    open_subscribers,
)
from bench.procstat import CpuWindow, tree_cpu_seconds, tree_rss_bytes
from bench.stats import latency_summary
from bench.wrk import (
    Signed,
    WrkProcess,
    WrkResult,
    WrkRun,
    match_latencies,
    monotonic_ns,
    read_sends,
    request_file,
    run_wrk,
)

EVENT = "bench"
MARKER = wire.event_marker(EVENT)
MEMBER_MARKER = wire.event_marker("pusher_internal:member_added")
DRAIN_SECONDS = 5.0
# A second bound on every request loop, besides its deadline.
MAX_REQUESTS = 2_000_000
# wrk in the channels scenario: time allowed for it to start before its warm-up phase, and the
# drain phase after the measured one (at least this long: wrk takes whole seconds).
WRK_STARTUP_NS = 300_000_000
WRK_DRAIN_NS = 1_000_000_000

Metrics = dict[str, float]
Cases = dict[str, Metrics]


@dataclass(frozen=True, slots=True)
class Scale:
    idle_steps: tuple[int, ...] = (1000, 5000, 10000)
    # One more idle step at max_sockets: the most this machine allows (bench/run.py sets it from
    # the per-process file limit; 0 = unknown, no such step).
    idle_max: bool = True
    max_sockets: int = 0
    fanout_subscribers: tuple[int, ...] = (1000, 5000)
    fanout_seconds: float = 10.0
    warmup_seconds: float = 1.0
    latency_subscribers: int = 1000
    latency_rate: float = 50.0
    latency_seconds: float = 10.0
    channels_sockets: int = 10000
    channels_seconds: float = 10.0
    channels_pool: int = 10000  # pre-signed triggers, each to a random channel, cycled by wrk
    channels_connections: int = 32
    presence_members: int = 1000
    http_connections: int = 32  # wrk -c
    http_threads: int = 1  # wrk -t
    http_seconds: int = 10  # wrk takes whole seconds
    # wrk_pusher.lua's response() hook: exact non-2xx, "error" bodies (soketi answers errors with
    # 200) and Connection: close counts, for some wrk CPU per response.
    wrk_check: bool = True
    # Closed loop: never more than this many events per subscriber sent but not yet received, so
    # the server's send buffers stay far below their limits and what we measure is throughput.
    window: int = 20
    publishers: int = 4
    payload_bytes: int = 100
    # nodes (opt-in): the same paced traffic to one channel, its subscribers spread evenly over
    # each of these numbers of tidings nodes on one Redis (or Cluster), triggers through node 1.
    nodes_counts: tuple[int, ...] = (1, 2, 3)
    nodes_subscribers: int = 600
    nodes_rate: float = 100.0  # events/s
    nodes_seconds: float = 10.0


FULL = Scale()
QUICK = Scale(
    idle_steps=(200, 500, 1000),
    idle_max=False,
    fanout_subscribers=(200, 1000),
    fanout_seconds=2.0,
    warmup_seconds=0.5,
    latency_subscribers=500,
    latency_seconds=2.0,
    channels_sockets=1000,
    channels_seconds=2.0,
    presence_members=200,
    http_seconds=2,
    nodes_subscribers=120,
    nodes_seconds=2.0,
)


class NodeSet(Protocol):
    """What the nodes scenario needs of its target (bench/servers.py TidingsNodes): tidings
    nodes, each a process on its own port, on a Redis (or Cluster) of their own."""

    def resize(self, count: int) -> list[tuple[int, int]]:
        """Have ``count`` nodes running; each one's (port, pid), node 1 first."""
        ...

    def redis_pids(self) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Server:
    target: Target
    pid: int
    nodes: NodeSet | None = None  # only for the nodes scenario's targets


def _label(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def _accepted(response: wire.HttpResponse) -> bool:
    # soketi answers API errors with status 200 and the real code in the body.
    return response.status == 200 and b'"error"' not in response.body


def _event(channel: str, seq: int, size: int) -> dict[str, str]:
    return {"name": EVENT, "channel": channel, "data": wire.event_data(0, seq, size)}


def _body(channels: list[str], seq: int, size: int) -> bytes:
    """One event, or a batch when given several channels; the send time is stamped last."""
    now = time.perf_counter_ns()
    if len(channels) == 1:
        return orjson.dumps(
            {"name": EVENT, "channel": channels[0], "data": wire.event_data(now, seq, size)}
        )
    batch = [
        {"name": EVENT, "channel": c, "data": wire.event_data(now, seq + i, size)}
        for i, c in enumerate(channels)
    ]
    return orjson.dumps({"batch": batch})


# -- 1. idle connections -------------------------------------------------------------------------
def idle_steps(scale: Scale) -> list[int]:
    steps = list(scale.idle_steps)
    if scale.idle_max and scale.max_sockets > max(steps, default=0):
        steps.append(scale.max_sockets)
    return steps


def _own_free_fds() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft - len(os.listdir("/proc/self/fd"))


async def idle(server: Server, scale: Scale) -> Cases:
    steps = idle_steps(scale)
    # This one process holds every socket, one descriptor each: check it has them to spare.
    if steps and steps[-1] > _own_free_fds() - 50:
        raise RuntimeError(
            f"{steps[-1]} sockets need {steps[-1]} descriptors; this process has "
            f"{_own_free_fds()} left under its file limit"
        )
    await asyncio.sleep(1.0)
    baseline = tree_rss_bytes(server.pid)
    tally, subs, cases = Tally(), list[Subscriber](), Cases()
    try:
        for step in steps:
            added = step - len(subs)
            cpu = CpuWindow(server.pid).start()
            started = time.perf_counter()
            subs += await open_subscribers(
                server.target,
                tally,
                MARKER,
                lambda i: f"idle-{i % 100}",
                added,
                first_index=len(subs),
                timeout=max(60.0, added / 200),
            )
            elapsed = time.perf_counter() - started
            usage = cpu.stop()
            server_cpu_s = usage["server_cpu_pct"] / 100 * usage["seconds"]
            await asyncio.sleep(1.0)  # let the server settle before reading its memory
            rss = tree_rss_bytes(server.pid)
            name = f"idle {_label(step)}" + (" (max)" if step == scale.max_sockets else "")
            cases[name] = {
                "connections": float(step),
                "connect_per_s": added / elapsed,
                "server_cpu_us_per_connect": server_cpu_s / added * 1e6,
                "rss_mib": rss / 2**20,
                "rss_per_conn_kib": (rss - baseline) / step / 1024,
                "closed": float(tally.closed),
                **usage,
            }
    finally:
        close_all(subs)
    return cases


# -- 2. fan-out ----------------------------------------------------------------------------------
async def fanout(server: Server, scale: Scale) -> Cases:
    cases = {}
    for count in scale.fanout_subscribers:
        tally = Tally()
        subs = await open_subscribers(server.target, tally, MARKER, lambda i: "fanout", count)
        try:
            for batch in (1, 10):
                kind = "single" if batch == 1 else "batch of 10"
                cases[f"fan-out {_label(count)} subs, {kind}"] = await _drive_fanout(
                    server, scale, tally, count, batch
                )
        finally:
            close_all(subs)
        await asyncio.sleep(0.5)
    return cases


async def _drive_fanout(
    server: Server,
    scale: Scale,
    tally: Tally,
    subscribers: int,
    batch: int,
    channel: str = "fanout",
) -> Metrics:
    loop = asyncio.get_running_loop()
    path = (
        wire.events_path(server.target.creds)
        if batch == 1
        else wire.batch_path(server.target.creds)
    )
    channels = [channel] * batch
    base = tally.delivered
    sent = accepted = rejected = requests = 0
    stalled = False
    stop_at = loop.time() + scale.warmup_seconds + scale.fanout_seconds

    async def publish(client: ApiClient) -> None:
        nonlocal sent, accepted, rejected, requests, stalled
        while loop.time() < stop_at and not stalled and requests < MAX_REQUESTS:
            needed = base + (sent - scale.window) * subscribers
            if not await tally.reach(needed, timeout=DRAIN_SECONDS):
                stalled = True
                return
            sent += batch
            response = await client.post(path, _body(channels, sent, scale.payload_bytes))
            requests += 1
            if _accepted(response):
                accepted += batch
            else:
                rejected += batch
                sent -= batch

    clients = [ApiClient(server.target) for _ in range(scale.publishers)]
    tasks = [asyncio.ensure_future(publish(c)) for c in clients]
    try:
        await asyncio.sleep(scale.warmup_seconds)
        cpu = CpuWindow(server.pid).start()
        start = (accepted, tally.delivered, requests)
        tally.samples.clear()
        await asyncio.sleep(scale.fanout_seconds)
        end = (accepted, tally.delivered, requests)
        usage = cpu.stop()
        samples = list(tally.samples)
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_SECONDS * 2)
    finally:
        for task in tasks:
            task.cancel()
        for client in clients:
            client.close()
    expected = base + accepted * subscribers
    await tally.reach(expected, DRAIN_SECONDS)
    seconds = usage["seconds"]
    deliveries = (end[1] - start[1]) / seconds
    metrics = {
        "triggers_per_s": (end[0] - start[0]) / seconds,
        "requests_per_s": (end[2] - start[2]) / seconds,
        "deliveries_per_s": deliveries,
        "deliveries_per_server_cpu_s": deliveries / max(usage["server_cpu_pct"] / 100, 1e-9),
        "losses": float(max(0, expected - tally.delivered)),
        "rejected": float(rejected),
        "stalled": float(stalled),
        "closed": float(tally.closed),
        **usage,
    }
    summary = latency_summary(samples)
    metrics["load_p50_ms"], metrics["load_p99_ms"] = summary["p50_ms"], summary["p99_ms"]
    return metrics


# -- 3. latency ----------------------------------------------------------------------------------
class PacedTriggers:
    """Triggers at a fixed rate, each its own task, over 4 keep-alive API clients that are opened
    before the clock starts (``open``): the latency and nodes scenarios."""

    def __init__(self, target: Target, payload_bytes: int) -> None:
        self.clients = [ApiClient(target) for _ in range(4)]
        self.idle: asyncio.Queue[ApiClient] = asyncio.Queue()
        self.path = wire.events_path(target.creds)
        self.payload_bytes = payload_bytes
        self.accepted = 0

    async def open(self, channel: str) -> None:
        for client in self.clients:
            await client.post(self.path, _body([channel], 0, self.payload_bytes))
            self.idle.put_nowait(client)

    async def run(self, channel: str, rate: float, total: int) -> None:
        """Send ``total`` triggers to ``channel``, ``rate`` a second; return once all answered."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks = []
        for seq in range(total):
            await asyncio.sleep(max(0.0, started + seq / rate - loop.time()))
            tasks.append(asyncio.ensure_future(self._trigger(channel, seq)))
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_SECONDS * 2)

    async def _trigger(self, channel: str, seq: int) -> None:
        client = await self.idle.get()
        try:
            response = await client.post(self.path, _body([channel], seq, self.payload_bytes))
            self.accepted += _accepted(response)
        finally:
            self.idle.put_nowait(client)

    def close(self) -> None:
        for client in self.clients:
            client.close()


async def latency(server: Server, scale: Scale) -> Cases:
    tally = Tally()
    count = scale.latency_subscribers
    subs = await open_subscribers(server.target, tally, MARKER, lambda i: "latency", count)
    paced = PacedTriggers(server.target, scale.payload_bytes)
    try:
        await paced.open("latency-warmup")
        total = int(scale.latency_rate * scale.latency_seconds)
        cpu = CpuWindow(server.pid).start()
        await paced.run("latency", scale.latency_rate, total)
        await tally.reach(paced.accepted * count, DRAIN_SECONDS)
        usage = cpu.stop()
    finally:
        paced.close()
        close_all(subs)
    accepted = paced.accepted
    metrics = latency_summary(tally.samples)
    metrics.update(
        triggers=float(total),
        accepted=float(accepted),
        losses=float(max(0, accepted * count - tally.delivered)),
        closed=float(tally.closed),
        **usage,
    )
    return {f"latency {_label(count)} subs, {scale.latency_rate:g}/s": metrics}


# -- 4. many channels ----------------------------------------------------------------------------
def _wrk_url(target: Target) -> str:
    return f"{'https' if target.tls else 'http'}://{target.host}:{target.port}"


def _channel_pool(target: Target, scale: Scale) -> tuple[list[Signed], bytes]:
    """Pre-signed triggers, each to a random channel and carrying its pool index; the ones to
    a sampling subscriber's channel are flagged so that wrk logs their send time. And the drain
    trigger, to a channel nobody is on."""
    creds, path, now = target.creds, wire.events_path(target.creds), time.time()
    picker = random.Random(7)
    pool = []
    for index in range(scale.channels_pool):
        room = picker.randrange(scale.channels_sockets)
        data = wire.indexed_data(index, scale.payload_bytes)
        body = orjson.dumps({"name": EVENT, "channel": f"room-{room}", "data": data})
        raw = wire.signed_post(target.host, target.port, creds, path, body, now)
        pool.append(Signed(raw, sampled=room % SAMPLE_EVERY == 0))
    body = orjson.dumps(_event("drain-nobody", 0, scale.payload_bytes))
    return pool, wire.signed_post(target.host, target.port, creds, path, body, now)


async def _sleep_until(deadline_ns: int) -> None:
    await asyncio.sleep(max(0.0, (deadline_ns - monotonic_ns()) / 1e9))


async def many_channels(server: Server, scale: Scale) -> Cases:
    tally, count = Tally(), scale.channels_sockets
    tally.receipts = []
    subs = await open_subscribers(server.target, tally, MARKER, lambda i: f"room-{i}", count)
    try:
        pool, drain = _channel_pool(server.target, scale)
        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
            requests_file, sends = Path(scratch) / "requests", Path(scratch) / "sends"
            requests_file.write_bytes(request_file(pool, drain))
            measure_from = monotonic_ns() + WRK_STARTUP_NS + int(scale.warmup_seconds * 1e9)
            measure_to = measure_from + int(scale.channels_seconds * 1e9)
            seconds = math.ceil((measure_to + WRK_DRAIN_NS - monotonic_ns()) / 1e9)
            run = WrkRun(
                _wrk_url(server.target),
                requests_file,
                connections=scale.channels_connections,
                seconds=seconds,
                check=scale.wrk_check,
                sends_prefix=sends,
                measure_from_ns=measure_from,
                measure_to_ns=measure_to,
            )
            process = await WrkProcess(run).start()
            try:
                await _sleep_until(measure_from)
                cpu, wrk_cpu = CpuWindow(server.pid).start(), tree_cpu_seconds(process.pid)
                await _sleep_until(measure_to)
                wrk_cpu = tree_cpu_seconds(process.pid) - wrk_cpu
                usage = cpu.stop(extra_loadgen_s=wrk_cpu)
                result = await process.result()
            finally:
                process.kill()
            expected = result.sent["warmup"] + result.sent["measured"] - result.rejected
            await tally.reach(expected, DRAIN_SECONDS)
            await asyncio.sleep(0.2)  # a duplicate or stray delivery would arrive by now
            sent_times = read_sends(sends)
    finally:
        close_all(subs)
    latencies = match_latencies(sent_times, tally.receipts or [])
    triggers_per_s = result.sent["measured"] / (scale.channels_seconds or math.nan)
    server_cpu_s = usage["server_cpu_pct"] / 100 * usage["seconds"]
    metrics = {"triggers_per_s": triggers_per_s}
    metrics.update(latency_summary(latencies))
    metrics.update(
        server_cpu_us_per_trigger=server_cpu_s / max(1, result.sent["measured"]) * 1e6,
        losses=float(max(0, expected - tally.delivered)),
        extra_deliveries=float(max(0, tally.delivered - expected)),
        reuse_interval_ms=scale.channels_pool / max(triggers_per_s, 1e-9) * 1e3,
        closed=float(tally.closed),
        **_wrk_metrics(result),
        **usage,
        wrk_cpu_pct=100 * wrk_cpu / usage["seconds"],
    )
    if metrics["p99_ms"] > metrics["reuse_interval_ms"] / 2:
        print(
            f"    channels: p99 {metrics['p99_ms']:.0f} ms is over half the pool's reuse interval "
            f"({metrics['reuse_interval_ms']:.0f} ms): raise channels_pool for exact latencies",
            flush=True,
        )
    return {f"{_label(count)} channels, 1 socket each": metrics}


def _wrk_metrics(result: WrkResult) -> Metrics:
    """What every wrk-driven case reports about the HTTP side: must-be-zero counts, HTTP latency
    and reconnections (each "Connection: close" answer makes wrk open a new connection)."""
    latency = result.latency_us
    checked = result.checked
    return {
        "non_2xx": float(result.non_2xx),
        "error_bodies": float(result.error_bodies) if checked else math.nan,
        "socket_errors": float(result.socket_errors),
        "timeouts": float(result.errors.get("timeout", 0)),
        "http_p50_ms": latency.get("p50", math.nan) / 1e3,
        "http_p99_ms": latency.get("p99", math.nan) / 1e3,
        "new_connections_per_request": result.closes / checked if checked else math.nan,
        "wrk_requests": float(result.requests),
    }


# -- 5. presence ---------------------------------------------------------------------------------
async def presence(server: Server, scale: Scale) -> Cases:
    tally, count, creds = Tally(), scale.presence_members, server.target.creds
    channel = "presence-bench"
    subs = await open_subscribers(server.target, tally, MEMBER_MARKER, lambda i: None, count)
    gate = asyncio.Semaphore(50)
    join_ns: list[int] = []

    async def join(index: int, sub: Subscriber) -> None:
        async with gate:
            member = {"user_id": f"user-{index}", "user_info": {"name": f"Member {index}"}}
            channel_data = orjson.dumps(member).decode()
            socket_id = sub.socket_id.result()
            auth = wire.presence_auth(creds.key, creds.secret, socket_id, channel, channel_data)
            sub.subscribe(channel, auth, channel_data)
            await asyncio.wait_for(sub.subscribed, 30.0)
            join_ns.append(time.perf_counter_ns() - sub.subscribe_sent_ns)

    try:
        cpu = CpuWindow(server.pid).start()
        started = time.perf_counter()
        results = await asyncio.gather(
            *(join(i, s) for i, s in enumerate(subs)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        usage = cpu.stop()
        failed = [r for r in results if isinstance(r, BaseException)]
        joined = count - len(failed)
        # Each pair of members yields one member_added, to whichever of the two joined first.
        expected = joined * (joined - 1) // 2
        await tally.reach(expected, DRAIN_SECONDS)
    finally:
        close_all(subs)
    summary = latency_summary(join_ns)
    metrics = {
        "join_s": elapsed,
        "joins_per_s": joined / elapsed,
        "join_p50_ms": summary["p50_ms"],
        "join_p99_ms": summary["p99_ms"],
        "failed_joins": float(len(failed)),
        "member_added_missing": float(max(0, expected - tally.delivered)),
        **usage,
    }
    if failed:
        print(f"    presence: {len(failed)} joins failed, first: {failed[0]!r}", flush=True)
    return {f"presence {_label(count)} members": metrics}


# -- 6. HTTP API alone ---------------------------------------------------------------------------
async def http_api(server: Server, scale: Scale) -> Cases:
    """wrk sends one pre-signed trigger (to a channel nobody is on) over keep-alive connections,
    as fast as it is answered: wrk's static request, no Lua per request."""
    name = f"HTTP API, wrk -c {scale.http_connections} -t {scale.http_threads}"
    return {name: await _wrk_trigger(server, scale, "http-nobody")}


async def _wrk_trigger(server: Server, scale: Scale, channel: str) -> Metrics:
    target, creds = server.target, server.target.creds
    body = orjson.dumps(_event(channel, 0, scale.payload_bytes))
    raw = wire.signed_post(target.host, target.port, creds, wire.events_path(creds), body)
    # One request from Python first: a clear failure if the server refuses the signed request.
    probe = ApiClient(target)
    try:
        answer = await probe.post(wire.events_path(creds), body)
    finally:
        probe.close()
    if not _accepted(answer):
        raise RuntimeError(f"the signed trigger was refused: {answer.status} {answer.body[:200]!r}")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        requests_file = Path(scratch) / "requests"
        requests_file.write_bytes(request_file([Signed(raw)]))
        run = WrkRun(
            _wrk_url(target),
            requests_file,
            connections=scale.http_connections,
            threads=scale.http_threads,
            seconds=scale.http_seconds,
            check=scale.wrk_check,
        )
        warmup = math.ceil(scale.warmup_seconds)
        if warmup:
            await run_wrk(WrkRun(run.url, requests_file, run.connections, run.threads, warmup))
        cpu = CpuWindow(server.pid).start()
        result = await run_wrk(run)
        usage = cpu.stop(extra_loadgen_s=result.cpu_s)
    rate = result.requests_per_s
    server_cpu_s = usage["server_cpu_pct"] / 100 * usage["seconds"]
    latency = result.latency_us
    metrics = {
        "requests_per_s": rate,
        "server_cpu_us_per_request": server_cpu_s / max(1, result.requests) * 1e6,
        "requests_per_server_cpu_s": result.requests / max(server_cpu_s, 1e-9),
        "p50_ms": latency.get("p50", math.nan) / 1e3,
        "p90_ms": latency.get("p90", math.nan) / 1e3,
        "p99_ms": latency.get("p99", math.nan) / 1e3,
        "max_ms": latency.get("max", math.nan) / 1e3,
        **_wrk_metrics(result),
        **usage,
        "wrk_cpu_pct": 100 * result.cpu_s / usage["seconds"],
    }
    return metrics


# -- 7. history (opt-in: --scenarios history) --------------------------------------------------
async def history(server: Server, scale: Scale) -> Cases:
    """The cost of channel history (docs/history.md): fan-out and HTTP triggers on a channel the
    bench app keeps a history for (history-*, bench/servers.py) against the same without."""
    cases = {}
    count = scale.fanout_subscribers[0]
    for kind, channel in (("no history", "fanout"), ("history", "history-fanout")):
        tally = Tally()
        subs = await open_subscribers(server.target, tally, MARKER, lambda i, c=channel: c, count)
        try:
            cases[f"fan-out {_label(count)} subs, {kind}"] = await _drive_fanout(
                server, scale, tally, count, 1, channel
            )
        finally:
            close_all(subs)
        await asyncio.sleep(0.5)
    for kind, channel in (("no history", "http-nobody"), ("history", "history-http")):
        name = f"HTTP API, wrk -c {scale.http_connections}, {kind}"
        cases[name] = await _wrk_trigger(server, scale, channel)
    return cases


# -- 8. nodes (opt-in: --scenarios nodes --targets tidings-redis,tidings-cluster) ---------------
async def spread_over_nodes(server: Server, scale: Scale) -> Cases:
    """The same paced traffic to one channel with its subscribers spread evenly over 1, 2 and 3
    tidings nodes on one Redis (or Cluster), triggered through node 1's API: what each node
    spends per message it delivers and per event, and what Redis spends. No node's cost may
    grow with the number of nodes (bench/README.md says how to read it)."""
    if server.nodes is None:
        raise RuntimeError("the nodes scenario needs --targets tidings-redis,tidings-cluster")
    cases = {}
    subscribers, rate = scale.nodes_subscribers, scale.nodes_rate
    for count in scale.nodes_counts:
        running = await asyncio.to_thread(server.nodes.resize, count)
        name = f"{count} node{'s' if count > 1 else ''}, {_label(subscribers)} subs, {rate:g}/s"
        cases[name] = await _drive_nodes(server, server.nodes, scale, running)
        await asyncio.sleep(0.5)
    return cases


async def _drive_nodes(
    server: Server, node_set: NodeSet, scale: Scale, running: list[tuple[int, int]]
) -> Metrics:
    count = len(running)
    targets = [Target(server.target.host, port, server.target.creds) for port, _ in running]
    # Evenly split (the first nodes take what does not divide); the subscriber index runs on
    # from node to node, so every node has its share of the sampling (every 20th) subscribers.
    shares = [len(range(node, scale.nodes_subscribers, count)) for node in range(count)]
    tallies = [Tally() for _ in running]
    subs: list[Subscriber] = []
    paced = PacedTriggers(targets[0], scale.payload_bytes)
    try:
        for node, (target, tally) in enumerate(zip(targets, tallies, strict=True)):
            subs += await open_subscribers(
                target, tally, MARKER, lambda i: "nodes", shares[node], first_index=len(subs)
            )
        await paced.open("nodes-warmup")
        total = int(scale.nodes_rate * (scale.warmup_seconds + scale.nodes_seconds))
        sending = asyncio.ensure_future(paced.run("nodes", scale.nodes_rate, total))
        try:
            await asyncio.sleep(scale.warmup_seconds)
            pids = [pid for _, pid in running]
            cpu = CpuWindow(pids[0], (*pids[1:], *node_set.redis_pids())).start()
            start = (paced.accepted, [tally.delivered for tally in tallies])
            for tally in tallies:
                tally.samples.clear()
            await asyncio.sleep(scale.nodes_seconds)
            end = (paced.accepted, [tally.delivered for tally in tallies])
            usage = cpu.stop()
            await sending
        finally:
            sending.cancel()
        expected = [paced.accepted * share for share in shares]
        for tally, wanted in zip(tallies, expected, strict=True):
            await tally.reach(wanted, DRAIN_SECONDS)
    finally:
        paced.close()
        close_all(subs)
    seconds = usage["seconds"]
    delivered = [after - before for before, after in zip(start[1], end[1], strict=True)]
    events = end[0] - start[0]
    nodes_pct, redis_pct = cpu.trees_pct[:count], sum(cpu.trees_pct[count:])

    def us_per(pct: float, messages: int) -> float:
        return pct / 100 * seconds / messages * 1e6 if messages else math.nan

    metrics = {
        "triggers_per_s": events / seconds,
        "deliveries_per_s": sum(delivered) / seconds,
        "losses": float(
            sum(max(0, n - t.delivered) for n, t in zip(expected, tallies, strict=True))
        ),
        "rejected": float(total - paced.accepted),
        "nodes_cpu_us_per_delivery": us_per(sum(nodes_pct), sum(delivered)),
        "redis_cpu_pct": redis_pct,
        "redis_cpu_us_per_event": us_per(redis_pct, events),
        "closed": float(sum(tally.closed for tally in tallies)),
        **usage,
    }
    for node, (pct, messages) in enumerate(zip(nodes_pct, delivered, strict=True), 1):
        metrics[f"node{node}_cpu_pct"] = pct
        metrics[f"node{node}_cpu_us_per_delivery"] = us_per(pct, messages)
        # Every node receives and frames each event once, however few subscribers it has.
        metrics[f"node{node}_cpu_us_per_event"] = us_per(pct, events)
        metrics[f"node{node}_deliveries_per_s"] = messages / seconds
    summary = latency_summary([sample for tally in tallies for sample in tally.samples])
    metrics["p50_ms"], metrics["p99_ms"] = summary["p50_ms"], summary["p99_ms"]
    return metrics


Scenario = Callable[[Server, Scale], Awaitable[Cases]]
SCENARIOS: dict[str, Scenario] = {
    "idle": idle,
    "fanout": fanout,
    "latency": latency,
    "channels": many_channels,
    "presence": presence,
    "http": http_api,
    "history": history,
    "nodes": spread_over_nodes,
}
# What a plain `python -m bench.run` runs; the others are asked for with --scenarios.
DEFAULT_SCENARIOS = ("idle", "fanout", "latency", "channels", "presence", "http")
