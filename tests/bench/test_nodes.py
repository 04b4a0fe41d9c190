"""The nodes scenario and its targets work end to end at toy size (this is no benchmark): nodes
on one redis-server and on a 3-master Redis Cluster of their own, grown to two and shrunk back;
an event triggered on node 1 reaches a subscriber of node 2; Redis runs as processes of its own,
on the server CPU; the scenario accounts for every delivery on every node."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from bench.loadgen import ApiClient, Tally, Target, close_all, open_subscribers
from bench.procstat import process_tree
from bench.pusher_wire import events_path
from bench.scenarios import MARKER, QUICK, Server, _body, latency, spread_over_nodes
from bench.servers import HOST, SERVER_CPU, Tidings, TidingsCluster, TidingsNodes

# Toy sizes: 5 subscribers on 1, then 2 nodes; 3 for latency; 20 events/s for half a second.
NODES: dict[str, Any] = {
    "nodes_counts": (1, 2),
    "nodes_subscribers": 5,
    "nodes_rate": 20.0,
    "nodes_seconds": 0.5,
}
LATENCY: dict[str, Any] = {"latency_subscribers": 3, "latency_rate": 20.0, "latency_seconds": 0.5}
TOY = replace(QUICK, warmup_seconds=0.2, **NODES, **LATENCY)


@pytest.mark.parametrize("kind", [TidingsNodes, TidingsCluster])
async def test_nodes_share_their_redis_and_resize(kind: type[TidingsNodes]) -> None:
    process = kind()
    await asyncio.to_thread(process.start)
    try:
        redis = process.redis_pids()
        assert len(redis) == (3 if kind is TidingsCluster else 1)
        assert all(pid not in process_tree(process.pid) for pid in redis)  # counted apart
        for pid in redis:
            for task in Path(f"/proc/{pid}/task").iterdir():  # every thread moved
                assert os.sched_getaffinity(int(task.name)) == {int(SERVER_CPU)}
        nodes = await asyncio.to_thread(process.resize, 2)
        assert nodes[0] == (process.port, process.pid) and len({port for port, _ in nodes}) == 2
        tally = Tally()
        subs = await open_subscribers(Target(HOST, nodes[1][0]), tally, MARKER, lambda i: "n", 2)
        client = ApiClient(Target(HOST, nodes[0][0]))
        try:
            response = await client.post(events_path(client.target.creds), _body(["n"], 1, 16))
            assert response.status == 200, response.body
            assert await tally.reach(2, timeout=10)
        finally:
            client.close()
            close_all(subs)
        assert await asyncio.to_thread(process.resize, 1) == nodes[:1]
        assert not Path(f"/proc/{nodes[1][1]}").exists()  # stopped and reaped
    finally:
        await asyncio.to_thread(process.stop)
    assert not any(Path(f"/proc/{pid}").exists() for pid in redis)


async def test_the_scenario_counts_each_nodes_deliveries() -> None:
    process = TidingsNodes()
    await asyncio.to_thread(process.start)
    try:
        server = Server(Target(HOST, process.port), process.pid, process)
        cases = await spread_over_nodes(server, TOY)
    finally:
        await asyncio.to_thread(process.stop)
    one, two = cases.values()
    # No loss on any node after the drain: each node's subscribers got every accepted event.
    for metrics in (one, two):
        assert metrics["losses"] == 0 and metrics["rejected"] == 0 and metrics["closed"] == 0
    assert "node2_cpu_us_per_delivery" not in one and "node2_cpu_us_per_delivery" in two
    assert {"node1_cpu_pct", "node2_cpu_pct", "redis_cpu_pct"} <= two.keys()


async def test_the_latency_scenario_paces_and_loses_nothing() -> None:
    process = Tidings()
    await asyncio.to_thread(process.start)
    try:
        (metrics,) = (await latency(Server(Target(HOST, process.port), process.pid), TOY)).values()
    finally:
        await asyncio.to_thread(process.stop)
    assert metrics["triggers"] == metrics["accepted"] == 10 and metrics["losses"] == 0
