"""bench/inprocess.py drives the real network layer, session and app stores with in-memory
transports: at toy size, every socket is connected and subscribed and every trigger answered
for the config-file app and for the same app in the SQLite store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.server import ROOT


def test_connects_and_triggers_are_measured_for_each_store() -> None:
    command = [sys.executable, "-m", "bench.inprocess", "--stores", "static,sqlite"]
    command += ["--connects", "30", "--requests", "50", "--fanouts", "5", "--rounds", "2"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "2 rounds, 30 connects, 50 triggers and 5 fan-outs each"
    assert [line.split()[0] for line in lines[1:]] == ["static", "sqlite"]
    for line in lines[1:]:
        assert "connect+subscribe" in line and "trigger" in line and "ns per delivery" in line


def test_each_checkout_is_measured_with_its_own_source(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.symlink_to(ROOT)  # another checkout, as far as the tool can tell
    command = [sys.executable, "-m", "bench.inprocess", "--stores", "static"]
    command += ["--checkouts", f"{ROOT},{other}", "--connects", "10", "--requests", "10"]
    command += ["--fanouts", "2", "--rounds", "1"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, timeout=120)
    names = [line.split()[0] for line in out.stdout.strip().splitlines()[1:]]
    assert names == [f"static@{ROOT.name}", "static@other"]
