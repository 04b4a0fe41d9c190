"""Benchmark tidings against soketi, side by side, in one command.

    .venv/bin/python -m bench.run            # full run, 3 repetitions (about 15 minutes, estimated)
    .venv/bin/python -m bench.run --quick    # smoke run at small scale (about 3 minutes)

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
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import uvloop

from bench import report
from bench.loadgen import Target
from bench.scenarios import FULL, QUICK, SCENARIOS, Scale, Server
from bench.servers import HOST, ROOT, SERVERS, ServerProcess

LOADGEN_CPU = "1"
SCENARIO_TIMEOUT = 300.0
WANTED_FDS = 65536
CEILING_SKIPS = {"presence"}  # the trivial server has no presence channels


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (≤1k sockets)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument("--targets", default="tidings,soketi", help="servers to compare")
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the trivial-server ceiling run"
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
    return args


def plan(args: argparse.Namespace) -> list[tuple[int, str, str]]:
    """(rep, scenario, target), alternating targets and swapping their order each rep."""
    steps = []
    for rep in range(args.reps):
        order = args.targets if rep % 2 == 0 else list(reversed(args.targets))
        if rep == 0 and not args.no_ceiling and "trivial" not in order:
            order = [*order, "trivial"]
        for scenario in args.scenarios:
            for target in order:
                if target == "trivial" and scenario in CEILING_SKIPS:
                    continue
                steps.append((rep, scenario, target))
    return steps


async def run_step(
    process: ServerProcess, scenario: str, scale: Scale, problems: list[str]
) -> dict[str, dict[str, float]]:
    process.start()
    log_file = process.log_file()
    logged = log_file.stat().st_size if log_file is not None and log_file.exists() else 0
    try:
        server = Server(Target(HOST, process.port), process.pid)
        return await asyncio.wait_for(SCENARIOS[scenario](server, scale), SCENARIO_TIMEOUT)
    finally:
        process.stop()
        lines, _ = process.log_problems(logged)
        problems += [f"{process.name} {scenario}: {line.strip()[:300]}" for line in lines[:20]]
        await asyncio.sleep(0.5)  # let the kernel finish closing the sockets


async def main(args: argparse.Namespace) -> int:
    scale = QUICK if args.quick else FULL
    steps = plan(args)
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
            "fd_limit": raise_fd_limit(),
            "note": args.note,
        },
        "results": [],
        "errors": [],
        "server_log": [],
    }
    run["meta"]["versions"] = {}
    print(f"{len(steps)} steps: {', '.join(targets)} x {', '.join(args.scenarios)}", flush=True)
    for number, (rep, scenario, target) in enumerate(steps, 1):
        step = f"[{number}/{len(steps)}] rep {rep + 1} {scenario:<9} {target:<8}"
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
    keys = ("deliveries_per_s", "triggers_per_s", "requests_per_s", "p99_ms", "join_s")
    parts = []
    for case, metrics in cases.items():
        shown = [f"{k}={metrics[k]:.4g}" for k in keys if k in metrics][:2]
        if metrics.get("losses"):
            shown.append(f"LOSSES={metrics['losses']:.0f}")
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
