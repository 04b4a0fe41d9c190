"""``tidings demo`` refuses to start, with a message saying what to fix, when it cannot work."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.server import ROOT


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    return subprocess.run(
        [sys.executable, "-m", "tidings", "demo", "--port", "1", "--server-port", "1"],
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
