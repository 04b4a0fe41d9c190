"""The report shows each ceiling server only where it ran, with its ceiling line under the table."""

from __future__ import annotations

from typing import Any

from bench import report


def _run() -> dict[str, Any]:
    def row(target: str, scenario: str, case: str, **metrics: float) -> dict[str, Any]:
        return {"target": target, "rep": 0, "scenario": scenario, "case": case, "metrics": metrics}

    http = "HTTP API, wrk -c 32 -t 1"
    return {
        "meta": {
            "started": "2026-12-01 08:00:00",
            "command": "python -m bench.run --quick",
            "mode": "quick",
            "reps": 1,
            "duration_s": 60.0,
            "machine": {"cores": "2"},
            "versions": {"trivial-c": "bench/trivial_http.c (C)"},
            "targets": ["tidings", "soketi", "trivial", "trivial-c"],
            "fd_limit": 20000,
            "scale": {"max_sockets": 19000},
        },
        "results": [
            row("tidings", "http", http, requests_per_s=30000.0, non_2xx=0.0),
            row("soketi", "http", http, requests_per_s=15000.0, non_2xx=0.0),
            row("trivial-c", "http", http, requests_per_s=150000.0, non_2xx=0.0),
            row("tidings", "idle", "idle 19k (max)", rss_per_conn_kib=4.0),
            row("trivial", "idle", "idle 19k (max)", rss_per_conn_kib=15.0),
        ],
        "errors": [],
    }


def test_ceiling_columns_and_lines() -> None:
    text = report.markdown(_run())
    http = text[text.index("## 6.") :]
    idle = text[text.index("## 1.") : text.index("## 6.")]
    assert "| case | metric | tidings | soketi | tidings/soketi | trivial-c |" in http
    assert "| 30,000 | 15,000 | 2.00x ✓ | 150,000 |" in http
    assert "ceiling** (HTTP API, wrk -c 32 -t 1): 150,000 requests/s against trivial-c" in http
    assert "| trivial |" in idle and "trivial-c" not in idle
    assert "19000 sockets" in idle and "at most 20000 files" in idle


def test_the_history_scenario_gets_its_own_table() -> None:
    run = _run()
    run["meta"]["targets"] = ["tidings", "tidings-2w"]
    run["results"] = [
        {
            "target": target,
            "rep": 0,
            "scenario": "history",
            "case": case,
            "metrics": {"deliveries_per_s": rate, "requests_per_s": rate},
        }
        for target in ("tidings", "tidings-2w")
        for case, rate in (
            ("fan-out 1k subs, no history", 9000.0),
            ("fan-out 1k subs, history", 8000.0),
        )
    ]
    text = report.markdown(run)
    table = text[text.index("## 7.") :]
    assert "| case | metric | tidings | tidings-2w |" in table
    assert "fan-out 1k subs, history" in table and "deliveries received /s" in table


def test_the_nodes_scenario_shows_each_node_it_ran() -> None:
    run = _run()
    run["meta"]["targets"] = ["tidings-redis", "tidings-cluster"]
    per_node = {"node1_cpu_us_per_delivery": 6.0, "node1_cpu_pct": 30.0}
    second = {"node2_cpu_us_per_delivery": 5.0, "node2_cpu_pct": 15.0}
    run["results"] = [
        {"target": target, "rep": 0, "scenario": "nodes", "case": case, "metrics": metrics}
        for target in ("tidings-redis", "tidings-cluster")
        for case, metrics in (
            ("1 node, 600 subs, 100/s", {**per_node, "redis_cpu_pct": 1.0}),
            ("2 nodes, 600 subs, 100/s", {**per_node, **second, "redis_cpu_pct": 2.0}),
        )
    ]
    table = report.markdown(run)[report.markdown(run).index("## 8.") :]
    assert "| case | metric | tidings-redis | tidings-cluster |" in table
    one, two = table.split("2 nodes, 600 subs")
    assert "node 1: CPU µs per delivered message | 6.00 | 6.00 |" in one
    assert "node 2" not in one and "node 2: CPU % | 15.0 | 15.0 |" in two
    assert "node 3" not in table and "Redis CPU % | 2.00 | 2.00 |" in two
