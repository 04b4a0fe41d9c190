"""``tidings demo``: tidings and the guide's application together, both on 127.0.0.1.

tidings runs in-process, in the same event loop as the demo app (``runner.serve``): one
process to start and one Ctrl-C to stop, no child to orphan, and the same graceful drain as
``tidings serve``. The demo's SDK calls run in worker threads, so they never block the loop
that serves the websockets. ``--external-server`` skips it to use a tidings you run yourself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from tidings import config as tidings_config
from tidings.apps.history import HistoryRule
from tidings.eventloop import run_async
from tidings_demo import config as demo_config
from tidings_demo.app import build_app

HOST = "127.0.0.1"
DEV_CLUSTER = "local"
# Agent sessions keep a history, so the session page recovers a run across a reload or a cut
# (docs/history.md); an external tidings needs the same rule in its config.
AGENT_HISTORY = HistoryRule("agent-*", max_events=500, ttl=3600)


def demo_env(environ: Mapping[str, str], server_port: int) -> dict[str, str]:
    """The environment both halves read: PUSHER_* (else the dev app) and where tidings listens."""
    env = dict(environ)
    if not any(env.get(name) for name in demo_config.REQUIRED):
        env.update(
            PUSHER_APP_ID=tidings_config.DEV_APP_ID,
            PUSHER_KEY=tidings_config.DEV_APP_KEY,
            PUSHER_SECRET=tidings_config.DEV_APP_SECRET,
            PUSHER_CLUSTER=DEV_CLUSTER,
        )
    # The private chat on the presence page is made of client events.
    env.setdefault("TIDINGS_APP_ENABLE_CLIENT_EVENTS", "true")
    env["TIDINGS_PORT"] = str(server_port)
    env.setdefault("TIDINGS_HOST", HOST)
    return env


def tidings_env(env: Mapping[str, str]) -> dict[str, str]:
    # The app tidings serves is the demo's, whatever TIDINGS_APP_* may say.
    return {
        **env,
        "TIDINGS_APP_ID": env["PUSHER_APP_ID"],
        "TIDINGS_APP_KEY": env["PUSHER_KEY"],
        "TIDINGS_APP_SECRET": env["PUSHER_SECRET"],
    }


def with_agent_history(cfg: tidings_config.Config) -> tidings_config.Config:
    apps = tuple(
        app if app.history else dataclasses.replace(app, history=(AGENT_HISTORY,))
        for app in cfg.apps
    )
    return dataclasses.replace(cfg, apps=apps)


async def run_demo(
    args: argparse.Namespace, env: Mapping[str, str], cfg: demo_config.DemoConfig, pusher_js: Path
) -> None:
    from tidings.server.runner import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    server: asyncio.Task[None] | None = None
    if not args.external_server:
        overrides = {"host": HOST, "port": args.server_port}
        server_cfg = with_agent_history(tidings_config.load(None, tidings_env(env), overrides))
        ready = asyncio.Event()
        server = asyncio.create_task(serve(server_cfg, on_ready=lambda _: ready.set(), stop=stop))
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if server.done():
            waiting.cancel()
            server.result()  # re-raises why tidings could not start (a port in use, say)
    runner = web.AppRunner(build_app(cfg, pusher_js), handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, args.port).start()
        print(f"tidings demo ready: http://{HOST}:{args.port}", flush=True)
        where = "external" if args.external_server else "in-process"
        print(
            f"  tidings ({where}) on http://{cfg.tidings_host}:{cfg.tidings_port}, "
            f"app id={cfg.app_id} key={cfg.key}",
            flush=True,
        )
        await stop.wait()
    finally:
        stop.set()
        await runner.cleanup()
        if server is not None:
            await server


def demo_command(args: argparse.Namespace) -> int:
    env = demo_env(os.environ, args.server_port)
    try:
        cfg = demo_config.load(env)
        pusher_js = demo_config.find_pusher_js(env)
    except demo_config.DemoConfigError as error:
        print(f"tidings demo: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        run_async(run_demo(args, env, cfg, pusher_js))
    except OSError as error:
        print(f"tidings demo: cannot start: {error}", file=sys.stderr)
        return 1
    return 0
