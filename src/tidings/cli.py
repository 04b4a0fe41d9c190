"""``tidings serve``, ``tidings apps``, ``tidings webhooks``, and commands registered by other
packages (``tidings demo`` comes from the demo package)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from tidings import __version__, config, logformat
from tidings.apps.cli import add_apps_command
from tidings.apps.database import StoreUnavailable
from tidings.eventloop import run_async
from tidings.server.context import Context
from tidings.webhooks.cli import add_webhooks_command

PLUGIN_GROUP = "tidings.commands"
SHOWN_APPS = 10  # in the start-up banner; a multi-tenant server may hold thousands


def add_plugin_commands(commands: Any) -> None:
    """Commands other packages register in the ``tidings.commands`` entry point group (the
    demo is one): each entry point names a function that adds its subparser."""
    for entry_point in entry_points(group=PLUGIN_GROUP):
        entry_point.load()(commands)


def load_config(args: argparse.Namespace) -> config.Config:
    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "workers", "redis_url", "data_dir", "metrics_port")
        if getattr(args, name, None) is not None
    }
    return config.load(args.config, os.environ, overrides)


def banner(cfg: config.Config, as_json: bool = False) -> Callable[[Context], None]:
    def show(ctx: Context) -> None:
        server = cfg.server
        url = f"http://{server.host}:{server.port}"
        apps = ctx.apps.all()
        if as_json:  # a log pipeline gets records, and never a secret, not even the dev one
            log = logging.getLogger("tidings")
            log.info("tidings %s listening on %s", __version__, url, extra={"url": url})
            for app in apps:
                log.info("app id=%s key=%s", app.id, app.key, extra={"app_id": app.id})
            return
        print(f"tidings {__version__} listening on {url}", flush=True)
        for app in apps[:SHOWN_APPS]:
            line = f"  app id={app.id} key={app.key}"
            if cfg.dev_app and app is cfg.apps[0]:
                line += f" secret={app.secret}  (built-in development app)"
            print(line, flush=True)
        if len(apps) > SHOWN_APPS:
            print(f"  and {len(apps) - SHOWN_APPS} more apps (tidings apps list)", flush=True)

    return show


def serve_command(args: argparse.Namespace) -> int:
    from tidings.server.runner import serve
    from tidings.server.workers import supervise, worker_index

    cfg = load_config(args)
    index = worker_index()
    if cfg.server.workers > 1 and index is None:
        return supervise(cfg, sys.argv[1:] if args.argv is None else args.argv)
    as_json = args.log_format == "json"
    on_ready = banner(cfg, as_json) if not index else None  # one banner for all workers
    run_async(serve(cfg, on_ready=on_ready, reuse_port=cfg.server.workers > 1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidings", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("TIDINGS_LOG_LEVEL", "INFO"),
        help="debug, info (the default: a line per connection and failed request), warning",
    )
    parser.add_argument(
        "--log-format",
        choices=logformat.FORMATS,
        default=os.environ.get("TIDINGS_LOG_FORMAT", "text"),
        help="text for people, json for one object per line (also TIDINGS_LOG_FORMAT)",
    )
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
    serve.add_argument(
        "--metrics-port", type=int, help="serve /metrics on this private port instead of --port"
    )
    serve.set_defaults(func=serve_command)
    add_apps_command(commands)
    add_webhooks_command(commands)
    add_plugin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    problem = logformat.problem(args.log_level, args.log_format)
    if problem:
        parser.error(problem)
    logformat.configure(args.log_level, args.log_format)
    try:
        result: int = args.func(args)
    except config.ConfigError as error:
        print(f"tidings: configuration error: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"tidings: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return result
