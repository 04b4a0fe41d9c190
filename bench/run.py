"""Benchmark tidings against soketi, side by side, in one command.

    .venv/bin/python -m bench.run            # full run, 3 repetitions (about 15 minutes, estimated)
    .venv/bin/python -m bench.run --quick    # smoke run at small scale (about 3 minutes)

The http and channels scenarios need wrk (`apt-get install wrk`); the trivial-c ceiling needs gcc.

The load generator (this process) runs on CPU 1 and each server on CPU 0 (taskset). Servers are
started fresh for every scenario, alternating tidings and soketi, with the order swapped on
every repetition. Results go to bench/results/latest.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import uvloop

from bench import report
from bench.loadgen import Target
from bench.scenarios import DEFAULT_SCENARIOS, FULL, QUICK, SCENARIOS, Scale, Server
from bench.servers import (
    CEILING_DEFAULT,
    CEILINGS,
    HOST,
    ONLY_ON,
    ROOT,
    SERVERS,
    SUPPORTED,
    ServerProcess,
    TidingsNodes,
    build_trivial_c,
)
from bench.wrk import WrkMissing, wrk_path

LOADGEN_CPU = "1"
SCENARIO_TIMEOUT = 300.0
WANTED_FDS = 65536
WRK_SCENARIOS = {"http", "channels", "history"}
# Descriptors left to each side for its own files when the idle scenario goes to the maximum.
FD_RESERVE = 1000


def pin_to_loadgen_cpu() -> None:
    """Re-run this command under ``taskset -c 1`` unless it already is there."""
    if os.environ.get("TIDINGS_BENCH_PINNED") or (os.cpu_count() or 1) < 2:
        return
    os.environ["TIDINGS_BENCH_PINNED"] = "1"
    command = ["taskset", "-c", LOADGEN_CPU, sys.executable, "-m", "bench.run", *sys.argv[1:]]
    os.execvp("taskset", command)


def raise_fd_limit() -> int:
    """10k sockets on each side: raise RLIMIT_NOFILE; the servers we start inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(hard, WANTED_FDS), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            continue
    return soft


def max_sockets(fd_limit: int) -> int:
    """The most WebSockets this machine lets the idle scenario hold: each side (the server and
    this one load generator process) needs a descriptor per socket under the same per-process
    file limit, less a reserve for its own files, and every socket takes an ephemeral port."""
    try:
        low, high = (
            int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        )
        ports = high - low + 1
    except (OSError, ValueError):
        ports = 28232
    return max(0, (min(fd_limit, ports) - FD_RESERVE) // 1000 * 1000)


def _override(scale: Scale, assignments: list[str]) -> Scale:
    """--set name=value: any Scale field; tuples comma-separated, booleans true/false."""
    changes: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(scale)}
    for assignment in assignments:
        name, _, text = assignment.partition("=")
        name = name.strip().replace("-", "_")
        if name not in names or not text:
            raise SystemExit(
                f"--set {assignment!r}: expected NAME=VALUE, NAME one of {sorted(names)}"
            )
        current = getattr(scale, name)
        try:
            if isinstance(current, bool):
                if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                value: Any = text.lower() in ("1", "true", "yes", "on")
            elif isinstance(current, tuple):
                value = tuple(int(v) for v in text.split(",") if v)
            else:
                value = type(current)(text)
        except ValueError:
            raise SystemExit(f"--set {assignment!r}: not a {type(current).__name__}") from None
        changes[name] = value
    return dataclasses.replace(scale, **changes)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (≤1k sockets)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all but history, nodes)",
    )
    parser.add_argument("--targets", default="tidings,soketi", help="servers to compare")
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the trivial-server ceiling run"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a scenario size, e.g. --set channels_sockets=2000 --set http_seconds=3 "
        "--set idle_steps=10000 (fields of bench.scenarios.Scale)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--note", default="", help="a sentence to print at the top of the report")
    args = parser.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = set(args.scenarios) - set(SCENARIOS) | set(args.targets) - set(SERVERS)
    if unknown:
        parser.error(f"unknown scenario or target: {', '.join(sorted(unknown))}")
    for scenario in args.scenarios:
        if scenario in ONLY_ON and not ONLY_ON[scenario] & set(args.targets):
            parser.error(
                f"the {scenario} scenario runs on {', '.join(sorted(ONLY_ON[scenario]))} only: "
                "name them in --targets"
            )
    args.scale = _override(QUICK if args.quick else FULL, args.set)
    return args


def plan(args: argparse.Namespace) -> list[tuple[int, str, str]]:
    """(rep, scenario, target), alternating targets and swapping their order each rep; in rep 1
    each scenario's ceiling server too (bench/servers.py CEILINGS)."""
    steps = []
    for rep in range(args.reps):
        order = args.targets if rep % 2 == 0 else list(reversed(args.targets))
        for scenario in args.scenarios:
            targets = list(order)
            ceiling = CEILINGS.get(scenario, CEILING_DEFAULT)
            if rep == 0 and not args.no_ceiling and ceiling and ceiling not in targets:
                targets.append(ceiling)
            for target in targets:
                if target in SUPPORTED and scenario not in SUPPORTED[target]:
                    continue
                if scenario in ONLY_ON and target not in ONLY_ON[scenario]:
                    continue
                steps.append((rep, scenario, target))
    return steps


def preflight(steps: list[tuple[int, str, str]]) -> str | None:
    """What the planned steps need beyond Python: a message saying what is missing, or None."""
    scenarios = {scenario for _, scenario, _ in steps}
    if scenarios & WRK_SCENARIOS:
        try:
            wrk_path()
        except WrkMissing as missing:
            others = ",".join(s for s in SCENARIOS if s not in WRK_SCENARIOS)
            needing = " and ".join(sorted(scenarios & WRK_SCENARIOS))
            return (
                f"{missing}. It drives the HTTP API in the {needing} scenario(s); install it, "
                f"or leave them out: --scenarios {others}"
            )
    if any(target == "trivial-c" for _, _, target in steps):
        try:
            build_trivial_c()
        except RuntimeError as error:
            return str(error)
    if shutil.which("taskset") is None:
        return "taskset is missing (Debian package util-linux)"
    return None


async def run_step(
    process: ServerProcess, scenario: str, scale: Scale, problems: list[str]
) -> dict[str, dict[str, float]]:
    process.start()
    log_file = process.log_file()
    logged = log_file.stat().st_size if log_file is not None and log_file.exists() else 0
    try:
        nodes = process if isinstance(process, TidingsNodes) else None
        server = Server(Target(HOST, process.port, tls=process.tls), process.pid, nodes)
        return await asyncio.wait_for(SCENARIOS[scenario](server, scale), SCENARIO_TIMEOUT)
    finally:
        process.stop()
        lines, _ = process.log_problems(logged)
        problems += [f"{process.name} {scenario}: {line.strip()[:300]}" for line in lines[:20]]
        await asyncio.sleep(0.5)  # let the kernel finish closing the sockets


async def main(args: argparse.Namespace) -> int:
    steps = plan(args)
    missing = preflight(steps)
    if missing:
        print(f"bench: {missing}", file=sys.stderr, flush=True)
        return 2
    fd_limit = raise_fd_limit()
    scale: Scale = args.scale
    if scale.idle_max and not scale.max_sockets:
        scale = dataclasses.replace(scale, max_sockets=max_sockets(fd_limit))
    targets = sorted({t for _, _, t in steps}, key=list(SERVERS).index)
    processes = {name: SERVERS[name]() for name in targets}
    started = time.time()
    run: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "command": command_line(),
            "mode": "quick" if args.quick else "full",
            "reps": args.reps,
            "targets": targets,
            "scale": dataclasses.asdict(scale),
            "machine": report.machine(),
            "pinning": f"servers on CPU 0, load generator on CPU {LOADGEN_CPU} (taskset)",
            "fd_limit": fd_limit,
            "note": args.note,
        },
        "results": [],
        "errors": [],
        "server_log": [],
    }
    run["meta"]["versions"] = {}
    print(f"{len(steps)} steps: {', '.join(targets)} x {', '.join(args.scenarios)}", flush=True)
    for number, (rep, scenario, target) in enumerate(steps, 1):
        step = f"[{number}/{len(steps)}] rep {rep + 1} {scenario:<9} {target:<9}"
        print(step, end="", flush=True)
        began = time.perf_counter()
        process = processes[target]
        try:
            cases = await run_step(process, scenario, scale, run["server_log"])
        except Exception as error:  # one failed step must not lose the others
            message = f"{type(error).__name__}: {error}"
            run["errors"].append(
                {"target": target, "rep": rep, "scenario": scenario, "error": message}
            )
            print(f" FAILED {message}", flush=True)
            traceback.print_exc(limit=3)
            continue
        run["meta"]["versions"].setdefault(target, process.version())
        for case, metrics in cases.items():
            row = {"target": target, "rep": rep, "scenario": scenario, "case": case}
            run["results"].append({**row, "metrics": metrics})
        print(f" {time.perf_counter() - began:5.1f} s  {_headline(cases)}", flush=True)
    run["meta"]["duration_s"] = time.time() - started
    run["meta"]["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().strip()
    for path in report.write(run, Path(args.out)):
        print(f"wrote {path}")
    return 1 if run["errors"] else 0


def _headline(cases: dict[str, dict[str, float]]) -> str:
    keys = (
        "nodes_cpu_us_per_delivery",
        "deliveries_per_s",
        "triggers_per_s",
        "requests_per_s",
        "p99_ms",
        "join_s",
    )
    parts = []
    for case, metrics in cases.items():
        shown = [f"{k}={metrics[k]:.4g}" for k in keys if k in metrics][:2]
        for key in ("losses", "non_2xx", "error_bodies", "socket_errors"):
            if metrics.get(key, 0) > 0:  # NaN, for not measured, is not > 0
                shown.append(f"{key.upper()}={metrics[key]:.0f}")
        if "new_connections_per_request" in metrics and metrics["new_connections_per_request"] > 0:
            shown.append(f"reconnects/req={metrics['new_connections_per_request']:.2f}")
        if "rss_per_conn_kib" in metrics:
            shown.append(f"rss/conn={metrics['rss_per_conn_kib']:.1f}KiB")
        parts.append(f"{case}: {' '.join(shown)}")
    return " | ".join(parts)


def command_line() -> str:
    python = (
        os.path.relpath(sys.executable, ROOT)
        if sys.executable.startswith(str(ROOT))
        else (sys.executable)
    )
    return shlex.join([python, "-m", "bench.run", *sys.argv[1:]])


def cli() -> None:
    args = parse_args()
    pin_to_loadgen_cpu()
    raise_fd_limit()
    sys.exit(uvloop.run(main(args)))


if __name__ == "__main__":
    cli()
