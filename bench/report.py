"""Turn the raw results of a run into ``latest.json``, ``latest.md`` and ``latest.png``."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.stats import Spread, ratio, spread

# (scenario, metric, label, higher is better?) in the order the tables show them.
HEADLINES: dict[str, list[tuple[str, str, bool | None]]] = {
    "idle": [
        ("connect_per_s", "connects+subscribes /s", True),
        ("server_cpu_us_per_connect", "server CPU µs per connect+subscribe", False),
        ("server_cpu_pct", "server CPU % while connecting", None),
        ("rss_per_conn_kib", "server RSS per connection (KiB)", False),
        ("rss_mib", "server RSS (MiB)", False),
        ("closed", "sockets closed by the server", False),
    ],
    "fanout": [
        ("triggers_per_s", "events accepted /s", True),
        ("deliveries_per_s", "deliveries received /s", True),
        ("deliveries_per_server_cpu_s", "deliveries per server CPU-second", True),
        ("server_cpu_pct", "server CPU %", None),
        ("losses", "losses (must be 0)", False),
        ("closed", "sockets closed by the server", False),
    ],
    "latency": [
        ("p50_ms", "p50 (ms)", False),
        ("p90_ms", "p90 (ms)", False),
        ("p99_ms", "p99 (ms)", False),
        ("max_ms", "max (ms)", False),
        ("server_cpu_pct", "server CPU %", None),
        ("losses", "losses (must be 0)", False),
    ],
    "channels": [
        ("triggers_per_s", "triggers /s (wrk)", True),
        ("p50_ms", "p50 trigger→receive (ms)", False),
        ("p99_ms", "p99 trigger→receive (ms)", False),
        ("http_p99_ms", "p99 HTTP response (ms)", False),
        ("server_cpu_us_per_trigger", "server CPU µs per trigger", False),
        ("server_cpu_pct", "server CPU %", None),
        ("losses", "losses (must be 0)", False),
        ("non_2xx", "non-2xx answers (must be 0)", False),
        ("error_bodies", "error bodies (must be 0)", False),
        ("socket_errors", "wrk socket errors (must be 0)", False),
        ("new_connections_per_request", "new TCP connections per request", None),
    ],
    "presence": [
        ("join_s", "time for all to join (s)", False),
        ("joins_per_s", "joins /s", True),
        ("join_p99_ms", "p99 join latency (ms)", False),
        ("server_cpu_pct", "server CPU % while joining", None),
        ("failed_joins", "failed joins", False),
        ("member_added_missing", "member_added missing", False),
    ],
    "http": [
        ("requests_per_s", "requests /s", True),
        ("server_cpu_us_per_request", "server CPU µs per request", False),
        ("p50_ms", "p50 (ms)", False),
        ("p99_ms", "p99 (ms)", False),
        ("server_cpu_pct", "server CPU %", None),
        ("non_2xx", "non-2xx answers (must be 0)", False),
        ("error_bodies", "error bodies (must be 0)", False),
        ("socket_errors", "wrk socket errors (must be 0)", False),
        ("new_connections_per_request", "new TCP connections per request", None),
    ],
}
# Fan-out rows, then HTTP rows: each case shows the ones it measured.
HEADLINES["history"] = [
    *(row for row in HEADLINES["fanout"] if row[0] != "closed"),
    *(row for row in HEADLINES["http"] if row[0] not in ("server_cpu_pct", "losses")),
]
# Nodes: rows per node for up to this many (a case shows the nodes it ran).
NODE_ROWS = 8
HEADLINES["nodes"] = [
    ("triggers_per_s", "events accepted /s", None),
    ("deliveries_per_s", "deliveries received /s", None),
    ("losses", "losses (must be 0)", False),
    ("rejected", "events refused (must be 0)", False),
    ("nodes_cpu_us_per_delivery", "all nodes: CPU µs per delivered message", False),
    *(
        row
        for node in range(1, NODE_ROWS + 1)
        for row in (
            (
                f"node{node}_cpu_us_per_delivery",
                f"node {node}: CPU µs per delivered message",
                False,
            ),
            (f"node{node}_cpu_us_per_event", f"node {node}: CPU µs per event", False),
            (f"node{node}_cpu_pct", f"node {node}: CPU %", None),
        )
    ),
    ("redis_cpu_pct", "Redis CPU %", None),
    ("redis_cpu_us_per_event", "Redis CPU µs per event", False),
    ("p50_ms", "p50 trigger→receive (ms)", False),
    ("p99_ms", "p99 trigger→receive (ms)", False),
    ("closed", "sockets closed by the server", False),
]
BUSY_PCT = 85
LOAD_ROWS = [
    ("loadgen_cpu_pct", "load generator CPU %"),
    ("wrk_cpu_pct", "of which wrk CPU %"),
    ("other_cpu_pct", "other load CPU %"),
]
# Under these tables, a line with the ceiling server's figure: (metric, unit).
CEILING_LINES = {
    "http": ("requests_per_s", "requests/s"),
    "channels": ("triggers_per_s", "triggers/s"),
}
CEILING_NAMES = ("trivial", "trivial-c")
SCENARIO_TITLES = {
    "idle": "1. Idle connections",
    "fanout": "2. Fan-out (one channel, triggers as fast as accepted)",
    "latency": "3. Latency (paced triggers, send time in the payload)",
    "channels": "4. Many channels (one socket per channel, wrk triggers to random channels)",
    "presence": "5. Presence join",
    "http": "6. HTTP API alone (wrk, no subscribers)",
    "history": "7. Channel history: the same load with and without history (tidings only)",
    "nodes": "8. Nodes: the same paced traffic over 1, 2 and 3 tidings nodes (API on node 1)",
}
CHARTS = [
    ("idle", "rss_per_conn_kib", "RSS per idle connection (KiB)"),
    ("idle", "connect_per_s", "connects + subscribes /s"),
    ("fanout", "deliveries_per_s", "fan-out deliveries /s"),
    ("fanout", "deliveries_per_server_cpu_s", "fan-out deliveries per server CPU-s"),
    ("latency", "p99_ms", "latency p99 (ms)"),
    ("channels", "triggers_per_s", "many channels: triggers /s"),
    ("presence", "join_s", "presence: time to join (s)"),
    ("http", "requests_per_s", "HTTP API requests /s"),
    ("nodes", "nodes_cpu_us_per_delivery", "nodes: CPU µs per delivered message"),
]


def machine() -> dict[str, str]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout
        except OSError:
            return "?"

    import aiohttp
    import orjson
    import uvloop

    return {
        "cpu": first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "memory": first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": run("node", "--version").strip(),
        "libraries": f"aiohttp {aiohttp.__version__}, uvloop {uvloop.__version__}, "
        f"orjson {orjson.__version__}",
        "wrk": run("wrk", "-v").split("\n", 1)[0].strip() or "not installed",
        "loadavg_at_start": Path("/proc/loadavg").read_text().strip(),
    }


def _groups(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, dict[str, list]]]:
    """(scenario, case) -> target -> metric -> values over repetitions."""
    groups: dict[tuple[str, str], dict[str, dict[str, list]]] = {}
    for row in results:
        per_target = groups.setdefault((row["scenario"], row["case"]), {})
        metrics = per_target.setdefault(row["target"], {})
        for name, value in row["metrics"].items():
            metrics.setdefault(name, []).append(value)
    return groups


def _loadgen_bound(metrics: dict[str, list[Any]]) -> bool:
    summary = spread(metrics.get("loadgen_cpu_pct", []))
    return summary is not None and summary.median >= BUSY_PCT


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value else "0"


def _cell(summary: Spread | None) -> str:
    if summary is None:
        return "-"
    text = _number(summary.median)
    if summary.count > 1:
        text += f" ±{summary.plus_minus_pct:.0f}%"
    return text


def _ratio_cell(value: float | None, higher_better: bool | None) -> str:
    if value is None:
        return "-"
    text = f"{value:.2f}x"
    if higher_better is not None and not math.isclose(value, 1.0, rel_tol=0.1):
        better = value > 1 if higher_better else value < 1
        text += " ✓" if better else " ✗"
    return text


def markdown(run: dict[str, Any]) -> str:
    meta = run["meta"]
    targets = meta["targets"]
    compared = [t for t in ("tidings", "soketi") if t in targets]
    lines = [
        f"# tidings vs soketi — {meta['started']}",
        "",
        f"Command: `{meta['command']}` ({meta['mode']} scale, {meta['reps']} repetition(s), "
        f"{meta['duration_s'] / 60:.1f} min)",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in meta["machine"].items()),
        "",
        "Servers: " + "; ".join(meta["versions"].values()),
        "",
        "Cells are medians over repetitions, ± half the min-max range as % of the median. The "
        "ratio is tidings/soketi; ✓ marks tidings better by more than 10%, ✗ worse. `trivial` "
        "(bench/trivial_server.py, aiohttp) and `trivial-c` (bench/trivial_http.c, for the "
        "wrk-driven http and channels scenarios) are run once: the load generator's ceiling, "
        "not competitors. "
        "'other load CPU %' is machine busy time minus server and load generator: when it is "
        "high, other work shared the cores and the figures are noisy. ⚠ after a case: the load "
        "generator used most of its core there, so those figures may be its limit, not the "
        "server's.",
        "",
    ]
    if meta.get("note"):
        lines += [f"**Note:** {meta['note']}", ""]
    groups = _groups(run["results"])
    for scenario, title in SCENARIO_TITLES.items():
        cases = [case for (s, case) in groups if s == scenario]
        if not cases:
            continue
        present = {t for case in cases for t in groups[(scenario, case)]}
        extra = [t for t in targets if t not in compared and t in present]
        header = ["case", "metric", *compared]
        if len(compared) == 2:
            header.append("tidings/soketi")
        header += extra
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        rows = HEADLINES[scenario] + [(m, label, None) for m, label in LOAD_ROWS]
        for case in cases:
            per_target = groups[(scenario, case)]
            busy = [t for t in targets if _loadgen_bound(per_target.get(t, {}))]
            shown_case = case + (
                f" ⚠ load generator ≥{BUSY_PCT}% ({', '.join(busy)})" if busy else ""
            )
            first = True
            for metric, label, higher in rows:
                summaries = {t: spread(per_target.get(t, {}).get(metric, [])) for t in targets}
                if all(s is None for s in summaries.values()):
                    continue
                cells = [shown_case if first else "", label]
                first = False
                cells += [_cell(summaries[t]) for t in compared]
                if len(compared) == 2:
                    tidings, soketi = summaries["tidings"], summaries["soketi"]
                    value = ratio(
                        tidings.median if tidings else None, soketi.median if soketi else None
                    )
                    cells.append(_ratio_cell(value, higher))
                cells += [_cell(summaries[t]) for t in extra]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += _notes(scenario, cases, groups, meta)
    if run.get("server_log"):
        lines += ["## Warnings and errors in the servers' logs", ""]
        lines += [f"- `{line}`" for line in run["server_log"][:50]]
        lines.append("")
    if run["errors"]:
        lines += ["## Failures", ""]
        lines += [
            f"- {e['target']} rep {e['rep']} {e['scenario']}: `{e['error']}`" for e in run["errors"]
        ]
        lines.append("")
    return "\n".join(lines)


def _notes(
    scenario: str,
    cases: list[str],
    groups: dict[tuple[str, str], dict[str, dict[str, list[Any]]]],
    meta: dict[str, Any],
) -> list[str]:
    """Lines under a table: the load generator's ceiling, and what bounds the idle maximum."""
    lines = []
    if scenario in CEILING_LINES:
        metric, unit = CEILING_LINES[scenario]
        versions = meta.get("versions", {})
        for case in cases:
            for name in CEILING_NAMES:
                summary = spread(groups[(scenario, case)].get(name, {}).get(metric, []))
                if summary is None:
                    continue
                what = versions.get(name, name)
                lines.append(
                    f"**Load generator ceiling** ({case}): {_number(summary.median)} {unit} "
                    f"against {name}: {what}."
                )
    if scenario == "idle" and any(case.endswith("(max)") for case in cases):
        scale = meta.get("scale", {})
        limit = meta.get("fd_limit")
        lines.append(
            f"The (max) step is the most this machine allows: {scale.get('max_sockets')} "
            f"sockets. Every process may open at most {limit} files (RLIMIT_NOFILE, hard limit); "
            "the server holds a descriptor per socket, less ~1,000 left for its own files. One "
            "load generator process holds all of them (a descriptor each plus a few dozen of its "
            "own, under the same limit), so more load generator processes would not raise it."
        )
    return [*lines, ""] if lines else []


def chart(run: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart", flush=True)
        return False
    groups = _groups(run["results"])
    targets = run["meta"]["targets"]
    colours = {
        "tidings": "#2b7bba",
        "tidings-2w": "#1b9e77",
        "tidings-console": "#7570b3",
        "soketi": "#e07b39",
        "trivial": "#9a9a9a",
        "trivial-c": "#5a5a5a",
    }
    panels = [(s, m, t) for s, m, t in CHARTS if any(key[0] == s for key in groups)]
    if not panels:
        return False
    columns = 2
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(13, 3.4 * rows), squeeze=False)
    for axis, (scenario, metric, title) in zip(axes.flat, panels, strict=False):
        cases = [case for (s, case) in groups if s == scenario]
        shown = [t for t in targets if any(t in groups[(scenario, c)] for c in cases)]
        width = 0.8 / len(shown)
        for offset, target in enumerate(shown):
            medians, low, high = [], [], []
            for case in cases:
                summary = spread(groups[(scenario, case)].get(target, {}).get(metric, []))
                if summary is None:
                    medians.append(0.0)
                    low.append(0.0)
                    high.append(0.0)
                else:
                    medians.append(summary.median)
                    low.append(summary.median - summary.low)
                    high.append(summary.high - summary.median)
            positions = [i + (offset - (len(shown) - 1) / 2) * width for i in range(len(cases))]
            axis.bar(
                positions,
                medians,
                width,
                yerr=[low, high],
                label=target,
                color=colours.get(target),
                capsize=3,
            )
        axis.set_title(title, fontsize=10)
        axis.set_xticks(range(len(cases)))
        axis.set_xticklabels(_short(cases), fontsize=7)
        axis.tick_params(axis="y", labelsize=8)
        axis.grid(axis="y", alpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    meta = run["meta"]
    figure.suptitle(
        f"tidings vs soketi, {meta['mode']} scale, {meta['reps']} rep(s), medians with min-max "
        f"— {meta['started']}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def _short(cases: Iterable[str]) -> list[str]:
    return [c.replace(" subs, ", "\n").replace(", 1 socket each", "") for c in cases]


def write(run: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = run["meta"]["started"].replace(":", "").replace("-", "").replace(" ", "-")
    written = []
    text = json.dumps(_clean(run), indent=1) + "\n"
    table = markdown(run) + "\n"
    # latest.* is what to read; the dated copies keep a history to compare tuning steps against.
    for name in ("latest", f"run-{stamp}"):
        for suffix, content in ((".json", text), (".md", table)):
            path = directory / f"{name}{suffix}"
            path.write_text(content)
            written.append(path)
    if chart(run, directory / "latest.png"):
        written.append(directory / "latest.png")
    return written


def _clean(value: Any) -> Any:
    """NaN (no samples) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
