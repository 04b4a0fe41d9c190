"""bench/inprocess.py drives the real network layer, session and app stores with in-memory
transports: at toy size, every socket is connected and subscribed and every trigger answered
for the config-file app and for the same app in the SQLite store."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import ROOT


def test_connects_and_triggers_are_measured_for_each_store() -> None:
    command = [sys.executable, "-m", "bench.inprocess", "--stores", "static,sqlite"]
    command += ["--connects", "30", "--requests", "50", "--rounds", "2"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "2 rounds, 30 connects and 50 triggers each"
    assert [line.split()[0] for line in lines[1:]] == ["static", "sqlite"]
    assert all("connect+subscribe" in line and "trigger" in line for line in lines[1:])
