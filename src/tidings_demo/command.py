"""Registers ``tidings demo`` with the tidings CLI (entry point group ``tidings.commands``).

Kept light on purpose: every ``tidings`` command, server workers included, loads this module
to build its parser, so the demo application and the pusher SDK load only when it runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any


def demo_command(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("pusher") is None:
        print(
            "tidings demo: the demo needs the official pusher SDK, which is not installed.\n"
            "  Install it with: pip install 'tidings[demo]'",
            file=sys.stderr,
        )
        return 2
    from tidings_demo.cli import demo_command as run

    return run(args)


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="run tidings with the Pusher integration guide's demo application"
    )
    demo.add_argument("--port", type=int, default=3000, help="demo app port (default 3000)")
    demo.add_argument(
        "--server-port",
        type=int,
        default=int(os.environ.get("TIDINGS_PORT") or 6001),
        help="tidings port (default $TIDINGS_PORT or 6001)",
    )
    demo.add_argument(
        "--external-server",
        action="store_true",
        help="do not start tidings; use the one already listening on --server-port",
    )
    demo.set_defaults(func=demo_command)
