"""``tidings apps add|list|show|set|disable|enable|rotate-secret|remove``: the app database.

Works on the store ``tidings serve`` reads with the same ``--config``, ``--data-dir`` and
environment, whether or not the server runs; a running server (every node of a cluster on
PostgreSQL) picks each change up within seconds. Apps from the config file or the environment
are listed but read-only here. Secrets are printed once, by ``add`` and ``rotate-secret``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from tidings import config
from tidings.apps.app import App
from tidings.apps.choose import database_for
from tidings.apps.codec import assignments, settings_of, with_settings
from tidings.apps.database import AppDatabase, StoreError, UnknownApp

Action = Callable[[argparse.Namespace, AppDatabase, config.Config], Awaitable[int]]


def add_apps_command(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="the server's TOML file")
    common.add_argument("--data-dir", help="the server's data directory (default ./data)")
    parser = commands.add_parser(
        "apps",
        help="add, change and remove apps while tidings runs",
        description="Manage the apps of the app database (apps_database_url).",
    )
    actions = parser.add_subparsers(dest="apps_command", required=True)

    def action(name: str, function: Action, help: str, *, app_id: bool = True) -> Any:
        sub = actions.add_parser(name, help=help, description=help, parents=[common])
        if app_id:
            sub.add_argument("app_id", metavar="ID", help="the app's id")
        sub.set_defaults(func=lambda args: _run(args, function))
        return sub

    add = action("add", _add, "add an app; prints its id, key and secret", app_id=False)
    add.add_argument("--id", help="the app id (default: random digits)")
    add.add_argument("--key", help="the app key (default: random)")
    add.add_argument("--secret", help="the app secret (default: random)")
    add.add_argument("settings", nargs="*", metavar="NAME=VALUE", help="app settings")
    for sub in (
        action("list", _list, "list apps (never their secrets)", app_id=False),
        action("show", _show, "show an app's settings (not its secret)"),
    ):
        sub.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    action("set", _set, "change settings: NAME=VALUE, an empty VALUE resets").add_argument(
        "settings", nargs="+", metavar="NAME=VALUE"
    )
    action("disable", _disable, "refuse the app's connections and API calls")
    action("enable", _enable, "accept the app again")
    action("rotate-secret", _rotate, "give the app a new secret (prints it)")
    action("remove", _remove, "delete the app")


def _run(args: argparse.Namespace, function: Action) -> int:
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    cfg = config.load(args.config, os.environ, overrides)
    database = database_for(cfg.server)
    if database is None:
        raise config.ConfigError(
            "'apps_database_url' is none: there is no app database to change; apps come from "
            "the config file and environment only"
        )

    async def run() -> int:
        await database.open(follow=False)
        try:
            return await function(args, database, cfg)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except StoreError as error:
        print(f"tidings apps: {error}", file=sys.stderr)
        return 2


def _static(cfg: config.Config) -> list[App]:
    return [] if cfg.dev_app else list(cfg.apps)


def _stored(database: AppDatabase, cfg: config.Config, app_id: str) -> App:
    app = database.by_id(app_id)
    if app is not None:
        return app
    if any(a.id == app_id for a in _static(cfg)):
        raise UnknownApp(
            f"app {app_id!r} comes from the config file or the environment, which "
            "tidings apps does not change; edit it there"
        )
    raise UnknownApp(f"there is no app {app_id!r}; `tidings apps list` shows the apps")


def _taken(cfg: config.Config, app: App) -> None:
    for other in _static(cfg):
        if app.id == other.id or app.key == other.key:
            field = "id" if app.id == other.id else "key"
            raise StoreError(
                f"the config file or environment already has an app with {field} "
                f"{getattr(app, field)!r}; choose another {field}"
            )


def _new_id(database: AppDatabase, cfg: config.Config) -> str:
    taken = {a.id for a in database.all()} | {a.id for a in _static(cfg)}
    while True:  # numeric like hosted Pusher's: the Python SDK refuses other ids
        candidate = str(1_000_000 + secrets.randbelow(9_000_000))
        if candidate not in taken:
            return candidate


def _print_credentials(app: App) -> None:
    print(f"  id:     {app.id}")
    print(f"  key:    {app.key}")
    print(f"  secret: {app.secret}")
    print("The secret is shown only now; keep it with your backend's configuration.")


async def _add(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    values = assignments(args.settings)
    values["id"] = args.id or _new_id(database, cfg)
    values["key"] = args.key or secrets.token_hex(10)
    values["secret"] = args.secret or secrets.token_hex(20)
    app = config.build_app("tidings apps add", values)
    _taken(cfg, app)
    await database.add(app)
    print(f"Added app {app.id} to {database.location}:")
    _print_credentials(app)
    return 0


def _summary(app: App, source: str) -> dict[str, Any]:
    return {"id": app.id, "key": app.key, "enabled": app.enabled, "source": source}


def _cell(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


async def _list(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    rows = [_summary(a, "config") for a in _static(cfg)]
    rows += [_summary(a, "database") for a in database.all()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No apps yet: `tidings apps add` adds one.")
        return 0
    columns = list(rows[0])
    cells = [[c.upper() for c in columns]]
    cells += [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    return 0


async def _show(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    app = _stored(database, cfg, args.app_id)
    document = {"id": app.id, "key": app.key, "enabled": app.enabled, **settings_of(app)}
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    for name, value in document.items():
        shown = json.dumps(value) if isinstance(value, list | dict | bool) else value
        print(f"{name} = {shown}")
    print("secret = (hidden; `tidings apps rotate-secret` makes a new one)")
    print("Other settings have their defaults (README: App settings).")
    return 0


async def _set(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    app = _stored(database, cfg, args.app_id)
    values = assignments(args.settings)
    changed = with_settings(app, values)
    _taken(cfg, changed)
    await database.update(changed)
    print(f"Updated app {app.id}: {', '.join(sorted(values))}")
    return 0


async def _enabled(database: AppDatabase, cfg: config.Config, app_id: str, on: bool) -> int:
    app = _stored(database, cfg, app_id)
    await database.update(dataclasses.replace(app, enabled=on))
    print(f"App {app.id} is {'enabled' if on else 'disabled'}.")
    return 0


async def _disable(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    return await _enabled(database, cfg, args.app_id, False)


async def _enable(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    return await _enabled(database, cfg, args.app_id, True)


async def _rotate(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    app = _stored(database, cfg, args.app_id)
    rotated = dataclasses.replace(app, secret=secrets.token_hex(20))
    await database.update(rotated)
    print(f"New secret for app {app.id} (the old one no longer signs anything):")
    print(f"  secret: {rotated.secret}")
    return 0


async def _remove(args: argparse.Namespace, database: AppDatabase, cfg: config.Config) -> int:
    app = _stored(database, cfg, args.app_id)
    await database.remove(app.id)
    print(f"Removed app {app.id}.")
    return 0
