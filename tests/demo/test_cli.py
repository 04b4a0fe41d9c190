"""``tidings demo`` refuses to start, with a message saying what to fix, when it cannot work."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.demo import DemoProcess
from tests.support.server import ROOT, free_port


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    return subprocess.run(
        [sys.executable, "-m", "tidings", "demo", "--port", "1", "--server-port", str(free_port())],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_partly_set_pusher_variables_name_the_missing_ones() -> None:
    result = run_demo(PUSHER_APP_ID="1", PUSHER_KEY="k")

    assert result.returncode == 2
    assert "missing environment variable(s) PUSHER_SECRET, PUSHER_CLUSTER" in result.stderr


def test_without_pusher_js_it_says_to_run_npm_ci() -> None:
    result = run_demo(TIDINGS_DEMO_NODE_MODULES="/nonexistent/node_modules")

    assert result.returncode == 2
    assert "pusher-js not found" in result.stderr
    assert "npm ci" in result.stderr


def test_a_busy_port_is_reported_and_sigterm_stops_the_demo_cleanly() -> None:
    running = DemoProcess().start()
    try:
        same_port = ["--port", str(running.port), "--server-port", str(free_port())]
        clash = subprocess.run(
            [sys.executable, "-m", "tidings", "demo", *same_port],
            env=running.environment(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        code = running.stop()

    assert clash.returncode == 1
    assert "tidings demo: cannot start:" in clash.stderr
    assert "address already in use" in clash.stderr.lower()
    assert code == 0
