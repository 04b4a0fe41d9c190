"""``tidings serve``, ``tidings webhooks``, and commands registered by other packages
(``tidings demo`` comes from the demo package)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from tidings import __version__, config
from tidings.eventloop import run_async
from tidings.server.context import Context
from tidings.webhooks.cli import add_webhooks_command

PLUGIN_GROUP = "tidings.commands"


def add_plugin_commands(commands: Any) -> None:
    """Commands other packages register in the ``tidings.commands`` entry point group (the
    demo is one): each entry point names a function that adds its subparser."""
    for entry_point in entry_points(group=PLUGIN_GROUP):
        entry_point.load()(commands)


def load_config(args: argparse.Namespace) -> config.Config:
    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "workers", "redis_url", "data_dir", "tls_cert", "tls_key")
        if getattr(args, name, None) is not None
    }
    return config.load(args.config, os.environ, overrides)


def banner(cfg: config.Config) -> Callable[[Context], None]:
    def show(ctx: Context) -> None:
        server = cfg.server
        scheme = "https" if server.tls_cert else "http"
        where = f"{scheme}://{server.host}:{server.port}"
        print(f"tidings {__version__} listening on {where}", flush=True)
        for app in cfg.apps:
            line = f"  app id={app.id} key={app.key}"
            if cfg.dev_app:
                line += f" secret={app.secret}  (built-in development app)"
            print(line, flush=True)

    return show


def serve_command(args: argparse.Namespace) -> int:
    from tidings.server.runner import serve
    from tidings.server.tls import load_tls
    from tidings.server.workers import supervise, worker_index

    cfg = load_config(args)
    if cfg.server.tls_cert:  # a reload while still starting must not kill the process
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    index = worker_index()
    if cfg.server.workers > 1 and index is None:
        load_tls(cfg.server)  # a bad certificate stops the supervisor with 2, not each worker
        return supervise(cfg, sys.argv[1:] if args.argv is None else args.argv)
    on_ready = banner(cfg) if not index else None  # one banner for all workers
    run_async(serve(cfg, on_ready=on_ready, reuse_port=cfg.server.workers > 1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidings", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("TIDINGS_LOG_LEVEL", "WARNING"))
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 6001)")
    serve.add_argument("--config", help="TOML file with [server] settings and [[apps]]")
    serve.add_argument("--data-dir", help="where the webhook queue is kept (default ./data)")
    serve.add_argument(
        "--workers", type=int, help="processes sharing the port (more than 1 needs --redis-url)"
    )
    serve.add_argument(
        "--redis-url", help="share state with other nodes through Redis (redis://host:6379/0)"
    )
    serve.add_argument("--tls-cert", help="PEM certificate (and chain): serve https:// and wss://")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.set_defaults(func=serve_command)
    add_webhooks_command(commands)
    add_plugin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = None if argv is None else list(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        result: int = args.func(args)
    except config.ConfigError as error:
        print(f"tidings: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return result
