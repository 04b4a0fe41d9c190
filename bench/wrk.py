"""The compiled HTTP load generator: wrk, driven by ``bench/wrk_pusher.lua`` with requests signed
here, once per run (a Pusher signature stays valid for 600 s).

One Python client saturates at ~14k requests/s; wrk (C, epoll) sends the same signed bytes at
several times that, so the HTTP figures measure the server. The pure parts (the request file,
wrk's output, the send-time log and the latency matching) are unit-tested in tests/bench.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import os
import re
import shutil
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk_pusher.lua")
JSON_MARKER = "BENCH-WRK-JSON "
INSTALL_HINT = "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu package wrk)"
ORDINARY, SAMPLED, DRAIN = b"0", b"1", b"2"


class WrkMissing(RuntimeError):
    pass


def wrk_path() -> str:
    """The wrk binary (``TIDINGS_BENCH_WRK`` or ``wrk`` on PATH), or WrkMissing."""
    configured = os.environ.get("TIDINGS_BENCH_WRK")
    found = configured if configured and os.access(configured, os.X_OK) else shutil.which("wrk")
    if not found:
        raise WrkMissing(INSTALL_HINT)
    return found


# -- the request file ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Signed:
    """One complete, signed HTTP request. ``sampled``: wrk logs its send time (measured phase)."""

    raw: bytes
    sampled: bool = False


def request_file(requests: Sequence[Signed], drain: bytes | None = None) -> bytes:
    """The REQUESTS file of wrk_pusher.lua: "<flag><request>\\0" records, the drain one last."""
    records = [(SAMPLED if r.sampled else ORDINARY, r.raw) for r in requests]
    if drain is not None:
        records.append((DRAIN, drain))
    out = []
    for flag, raw in records:
        if b"\0" in raw:
            raise ValueError("a request with a NUL byte cannot go in wrk's request file")
        out += [flag, raw, b"\0"]
    return b"".join(out)


# -- wrk's output --------------------------------------------------------------------------------
@dataclass(slots=True)
class WrkResult:
    duration_s: float
    requests: int  # responses received (wrk's "complete")
    errors: dict[str, int]  # connect, read, write, status (>= 400), timeout
    latency_us: dict[str, float]  # min, max, mean, stdev, p50, p90, p99, p99.9
    cpu_s: float = math.nan  # wrk's own CPU time (os.clock in done()), all threads
    checked: int = 0  # responses seen by the Lua response() hook (0: hook off)
    bad_status: int = 0  # non-2xx statuses, when checked
    error_bodies: int = 0  # bodies with "error" in them, when checked
    closes: int = 0  # "Connection: close" answers (each makes wrk reconnect), when checked
    logged: int = 0  # send times logged
    sent: dict[str, int] = field(default_factory=dict)  # warmup, measured, drain (dynamic mode)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.get(k, 0) for k in ("connect", "read", "write", "timeout"))

    @property
    def non_2xx(self) -> int:
        """Non-2xx answers: exact with the response hook; otherwise wrk's count of >= 400."""
        return self.bad_status if self.checked else self.errors.get("status", 0)

    @property
    def rejected(self) -> int:
        """Answers that did not accept the trigger (status or, with the hook, an error body)."""
        return self.non_2xx + (self.error_bodies if self.checked else 0)


def parse_output(text: str) -> WrkResult:
    """wrk's stdout: the JSON line done() prints, or else wrk's own text report."""
    for line in text.splitlines():
        if line.startswith(JSON_MARKER):
            return _from_json(json.loads(line[len(JSON_MARKER) :]))
    return parse_text(text)


def _from_json(data: dict[str, object]) -> WrkResult:
    def number(name: str) -> float:
        value = data.get(name, 0)
        return float(value) if isinstance(value, int | float) else 0.0

    errors = data.get("errors", {})
    latency = data.get("latency_us", {})
    assert isinstance(errors, dict) and isinstance(latency, dict)
    return WrkResult(
        duration_s=number("duration_us") / 1e6,
        requests=int(number("requests")),
        errors={str(k): int(v) for k, v in errors.items()},
        latency_us={str(k): float(v) for k, v in latency.items()},
        cpu_s=number("cpu_s") if "cpu_s" in data else math.nan,
        checked=int(number("checked")),
        bad_status=int(number("bad_status")),
        error_bodies=int(number("error_bodies")),
        closes=int(number("closes")),
        logged=int(number("logged")),
        sent={k: int(number(f"sent_{k}")) for k in ("warmup", "measured", "drain")},
    )


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_TIME = r"([\d.]+)(us|ms|s|m|h)"
_METRIC = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def _us(value: str, unit: str) -> float:
    return float(value) * _UNITS_US[unit]


def parse_text(text: str) -> WrkResult:
    """wrk 4's human report (with --latency): a fallback for when the script printed nothing."""
    total = re.search(r"(\d+) requests in " + _TIME, text)
    if total is None:
        raise ValueError(f"no wrk summary in output: {text[-500:]!r}")
    requests = int(total.group(1))
    duration_s = _us(total.group(2), total.group(3)) / 1e6
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rate and float(rate.group(1)) > 0:
        duration_s = requests / float(rate.group(1))  # more digits than "10.02s"
    errors = dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket:
        for name, value in zip(
            ("connect", "read", "write", "timeout"), socket.groups(), strict=True
        ):
            errors[name] = int(value)
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if status:
        errors["status"] = int(status.group(1))
    latency: dict[str, float] = {}
    line = re.search(r"^\s+Latency\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, text, re.M)
    if line:
        groups = line.groups()
        latency["mean"] = _us(groups[0], groups[1])
        latency["stdev"] = _us(groups[2], groups[3])
        latency["max"] = _us(groups[4], groups[5])
    for percent, value, unit in re.findall(r"^\s+(\d+(?:\.\d+)?)%\s+" + _TIME, text, re.M):
        latency[f"p{float(percent):g}"] = _us(value, unit)
    return WrkResult(duration_s=duration_s, requests=requests, errors=errors, latency_us=latency)


# -- send times and delivery latency -------------------------------------------------------------
def parse_sends(text: str) -> dict[int, list[int]]:
    """The send-time log ("index sec nsec" lines) as index -> sorted send times in ns."""
    sends: dict[int, list[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # a line cut short, if wrk died mid-write
        index, sec, nsec = (int(float(p)) for p in parts)
        sends.setdefault(index, []).append(sec * 1_000_000_000 + nsec)
    for times in sends.values():
        times.sort()
    return sends


def read_sends(prefix: Path) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for path in sorted(prefix.parent.glob(prefix.name + ".*")):
        for index, times in parse_sends(path.read_text()).items():
            merged.setdefault(index, []).extend(times)
    for times in merged.values():
        times.sort()
    return merged


def match_latencies(sends: dict[int, list[int]], receipts: Iterable[tuple[int, int]]) -> list[int]:
    """Delivery latency of each receipt (pool index, receive ns): receive time minus the latest
    logged send of that index before it. A pool entry is re-sent only every pool-size requests
    (a fraction of a second), so the latest earlier send is the one delivered while latencies
    stay below that interval. Receipts with no logged send before them (warm-up) are skipped."""
    latencies = []
    for index, received in receipts:
        times = sends.get(index)
        if not times:
            continue
        at = bisect.bisect_right(times, received)
        if at:
            latencies.append(received - times[at - 1])
    return latencies


# -- running it ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WrkRun:
    url: str
    requests_file: Path
    connections: int = 32
    threads: int = 1
    seconds: int = 10
    check: bool = True
    sends_prefix: Path | None = None
    measure_from_ns: int = 0
    measure_to_ns: int = 0
    timeout_s: float = 5.0

    def command(self, wrk: str) -> list[str]:
        command = [
            wrk,
            f"-c{self.connections}",
            f"-t{self.threads}",
            f"-d{self.seconds}s",
            f"--timeout={self.timeout_s:g}s",
            "--latency",
            "-s",
            str(SCRIPT),
            self.url,
            "--",
            str(self.requests_file),
            "1" if self.check else "0",
        ]
        if self.sends_prefix is not None:
            command += [str(self.sends_prefix), str(self.measure_from_ns), str(self.measure_to_ns)]
        return command


class WrkProcess:
    """One wrk run as a child process (it inherits our CPU pinning and file limit)."""

    def __init__(self, run: WrkRun) -> None:
        self.run = run
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> WrkProcess:
        self.process = await asyncio.create_subprocess_exec(
            *self.run.command(wrk_path()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def result(self) -> WrkResult:
        process = self.process
        assert process is not None
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(), self.run.seconds + self.run.timeout_s + 30
            )
        except (TimeoutError, asyncio.CancelledError):
            self.kill()
            raise
        text, problems = stdout.decode(errors="replace"), stderr.decode(errors="replace")
        if process.returncode != 0 or problems.strip():
            raise RuntimeError(f"wrk exited {process.returncode}: {(problems or text)[-800:]}")
        return parse_output(text)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)


async def run_wrk(run: WrkRun) -> WrkResult:
    process = await WrkProcess(run).start()
    return await process.result()


def monotonic_ns() -> int:
    """The clock wrk_pusher.lua stamps sends with (CLOCK_MONOTONIC)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)
