"""The six scenarios. Each runs against one freshly started server and returns, per case, a flat
dict of metrics. Every loop here is bounded in count and in time."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from bench import pusher_wire as wire
from bench.loadgen import ApiClient, Subscriber, Tally, Target, close_all, open_subscribers
from bench.procstat import CpuWindow, tree_rss_bytes
from bench.stats import latency_summary

EVENT = "bench"
MARKER = wire.event_marker(EVENT)
MEMBER_MARKER = wire.event_marker("pusher_internal:member_added")
DRAIN_SECONDS = 5.0
# A second bound on every request loop, besides its deadline.
MAX_REQUESTS = 2_000_000

Metrics = dict[str, float]
Cases = dict[str, Metrics]


@dataclass(frozen=True, slots=True)
class Scale:
    idle_steps: tuple[int, ...] = (1000, 5000, 10000)
    fanout_subscribers: tuple[int, ...] = (1000, 5000)
    fanout_seconds: float = 10.0
    warmup_seconds: float = 1.0
    latency_subscribers: int = 1000
    latency_rate: float = 50.0
    latency_seconds: float = 10.0
    channels_sockets: int = 10000
    channels_seconds: float = 10.0
    presence_members: int = 1000
    http_clients: int = 32
    http_seconds: float = 10.0
    # Closed loop: never more than this many events per subscriber sent but not yet received, so
    # the server's send buffers stay far below their limits and what we measure is throughput.
    window: int = 20
    publishers: int = 4
    channel_publishers: int = 16
    payload_bytes: int = 100


FULL = Scale()
QUICK = Scale(
    idle_steps=(200, 500, 1000),
    fanout_subscribers=(200, 1000),
    fanout_seconds=2.0,
    warmup_seconds=0.5,
    latency_subscribers=500,
    latency_seconds=2.0,
    channels_sockets=1000,
    channels_seconds=2.0,
    presence_members=200,
    http_seconds=2.0,
)


@dataclass(frozen=True, slots=True)
class Server:
    target: Target
    pid: int


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
async def idle(server: Server, scale: Scale) -> Cases:
    await asyncio.sleep(1.0)
    baseline = tree_rss_bytes(server.pid)
    tally, subs, cases = Tally(), [], {}
    try:
        for step in scale.idle_steps:
            added = step - len(subs)
            started = time.perf_counter()
            subs += await open_subscribers(
                server.target,
                tally,
                MARKER,
                lambda i: f"idle-{i % 100}",
                added,
                first_index=len(subs),
            )
            elapsed = time.perf_counter() - started
            await asyncio.sleep(1.0)  # let the server settle before reading its memory
            rss = tree_rss_bytes(server.pid)
            cases[f"idle {_label(step)}"] = {
                "connections": float(step),
                "connect_per_s": added / elapsed,
                "rss_mib": rss / 2**20,
                "rss_per_conn_kib": (rss - baseline) / step / 1024,
                "closed": float(tally.closed),
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
    server: Server, scale: Scale, tally: Tally, subscribers: int, batch: int
) -> Metrics:
    loop = asyncio.get_running_loop()
    path = (
        wire.events_path(server.target.creds)
        if batch == 1
        else wire.batch_path(server.target.creds)
    )
    channels = ["fanout"] * batch
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
async def latency(server: Server, scale: Scale) -> Cases:
    tally = Tally()
    count = scale.latency_subscribers
    subs = await open_subscribers(server.target, tally, MARKER, lambda i: "latency", count)
    clients = [ApiClient(server.target) for _ in range(4)]
    idle: asyncio.Queue[ApiClient] = asyncio.Queue()
    path = wire.events_path(server.target.creds)
    accepted = 0
    try:
        for client in clients:  # open the keep-alive connections before the clock starts
            await client.post(path, _body(["latency-warmup"], 0, scale.payload_bytes))
            idle.put_nowait(client)

        async def trigger(seq: int) -> None:
            nonlocal accepted
            client = await idle.get()
            try:
                response = await client.post(path, _body(["latency"], seq, scale.payload_bytes))
                accepted += _accepted(response)
            finally:
                idle.put_nowait(client)

        loop = asyncio.get_running_loop()
        total = int(scale.latency_rate * scale.latency_seconds)
        cpu = CpuWindow(server.pid).start()
        started = loop.time()
        tasks = []
        for seq in range(total):
            await asyncio.sleep(max(0.0, started + seq / scale.latency_rate - loop.time()))
            tasks.append(asyncio.ensure_future(trigger(seq)))
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_SECONDS * 2)
        await tally.reach(accepted * count, DRAIN_SECONDS)
        usage = cpu.stop()
    finally:
        for client in clients:
            client.close()
        close_all(subs)
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
async def many_channels(server: Server, scale: Scale) -> Cases:
    tally, count = Tally(), scale.channels_sockets
    subs = await open_subscribers(server.target, tally, MARKER, lambda i: f"room-{i}", count)
    loop = asyncio.get_running_loop()
    path = wire.events_path(server.target.creds)
    picker = random.Random(7)
    accepted = requests = 0
    stop_at = loop.time() + scale.warmup_seconds + scale.channels_seconds

    async def publish(client: ApiClient) -> None:
        nonlocal accepted, requests
        while loop.time() < stop_at and requests < MAX_REQUESTS:
            channel = f"room-{picker.randrange(count)}"
            response = await client.post(path, _body([channel], requests, scale.payload_bytes))
            requests += 1
            accepted += _accepted(response)

    clients = [ApiClient(server.target) for _ in range(scale.channel_publishers)]
    tasks = [asyncio.ensure_future(publish(c)) for c in clients]
    try:
        await asyncio.sleep(scale.warmup_seconds)
        cpu = CpuWindow(server.pid).start()
        start, tally.samples = accepted, []
        await asyncio.sleep(scale.channels_seconds)
        end, usage, samples = accepted, cpu.stop(), list(tally.samples)
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_SECONDS * 2)
        await tally.reach(accepted, DRAIN_SECONDS)
    finally:
        for task in tasks:
            task.cancel()
        for client in clients:
            client.close()
        close_all(subs)
    metrics = {"triggers_per_s": (end - start) / usage["seconds"]}
    metrics.update(latency_summary(samples))
    metrics.update(
        losses=float(max(0, accepted - tally.delivered)), closed=float(tally.closed), **usage
    )
    return {f"{_label(count)} channels, 1 socket each": metrics}


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
    loop = asyncio.get_running_loop()
    path = wire.events_path(server.target.creds)
    body = orjson.dumps(_event("http-nobody", 0, scale.payload_bytes))
    done = failed = 0
    latencies: list[int] = []
    recording = False
    stop_at = loop.time() + scale.warmup_seconds + scale.http_seconds

    async def client_loop(client: ApiClient) -> None:
        nonlocal done, failed
        while loop.time() < stop_at and done < MAX_REQUESTS:
            sent = time.perf_counter_ns()
            response = await client.post(path, body)
            if recording:
                latencies.append(time.perf_counter_ns() - sent)
            done += 1
            failed += not _accepted(response)

    clients = [ApiClient(server.target) for _ in range(scale.http_clients)]
    tasks = [asyncio.ensure_future(client_loop(c)) for c in clients]
    try:
        await asyncio.sleep(scale.warmup_seconds)
        cpu = CpuWindow(server.pid).start()
        start, connects, recording = done, sum(c.connects for c in clients), True
        await asyncio.sleep(scale.http_seconds)
        end, usage = done, cpu.stop()
        connects = sum(c.connects for c in clients) - connects
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_SECONDS * 2)
    finally:
        for task in tasks:
            task.cancel()
        for client in clients:
            client.close()
    rate = (end - start) / usage["seconds"]
    summary = latency_summary(latencies)
    metrics = {
        "requests_per_s": rate,
        "requests_per_server_cpu_s": rate / max(usage["server_cpu_pct"] / 100, 1e-9),
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "new_connections_per_request": connects / max(1, end - start),
        "failed": float(failed),
        **usage,
    }
    return {f"HTTP API, {scale.http_clients} keep-alive clients": metrics}


Scenario = Callable[[Server, Scale], Awaitable[Cases]]
SCENARIOS: dict[str, Scenario] = {
    "idle": idle,
    "fanout": fanout,
    "latency": latency,
    "channels": many_channels,
    "presence": presence,
    "http": http_api,
}
