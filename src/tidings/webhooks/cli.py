"""``tidings webhooks failed`` and ``tidings webhooks replay [ID ...|--all]``: the dead letters.

Replay posts each dead letter once, now, from this process (the server need not be running),
with a fresh ``time_ms`` and signature: receivers' SDKs refuse bodies more than 5 minutes old.
A webhook that fails again stays in the dead-letter store with the new error.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from tidings import config
from tidings.apps.choose import close_app_store, open_app_store
from tidings.webhooks.payload import restamp
from tidings.webhooks.queue import QueuedWebhook, SqliteQueue, queue_path
from tidings.webhooks.sender import Sender


def add_webhooks_command(commands: Any) -> None:
    parser = commands.add_parser(
        "webhooks", help="list and replay webhooks that ran out of retries"
    )
    actions = parser.add_subparsers(dest="webhooks_command", required=True)
    failed = actions.add_parser("failed", help="list dead-letter webhooks")
    failed.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    failed.set_defaults(func=failed_command)
    replay = actions.add_parser("replay", help="post dead-letter webhooks again, once each")
    replay.add_argument("ids", nargs="*", type=int, metavar="ID", help="ids from `failed`")
    replay.add_argument("--all", action="store_true", help="every dead-letter webhook")
    replay.set_defaults(func=replay_command)
    for sub in (failed, replay):
        sub.add_argument("--data-dir", help="the server's data directory (default ./data)")
        sub.add_argument(
            "--config", help="the server's TOML file (replay signs with its apps' secrets)"
        )


def _config(args: argparse.Namespace) -> config.Config:
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    return config.load(args.config, os.environ, overrides)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(row: QueuedWebhook) -> dict[str, Any]:
    events = json.loads(row.webhook.body)["events"]
    return {
        "id": row.id,
        "app_id": row.webhook.app_id,
        "url": row.webhook.url,
        "created_at": _when(row.webhook.created_at),
        "failed_at": _when(row.failed_at or 0),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "events": events,
    }


async def _dead_letters(path: Any, ids: list[int] | None) -> list[QueuedWebhook]:
    queue = SqliteQueue(path)
    await queue.open()
    try:
        return await queue.dead_letters(ids)
    finally:
        await queue.close()


def failed_command(args: argparse.Namespace) -> int:
    from tidings.eventloop import run_async

    path = queue_path(_config(args).server.data_dir)
    rows: list[QueuedWebhook] = []
    if path.exists():

        async def read() -> None:
            rows.extend(await _dead_letters(path, None))

        run_async(read())
    described = [_describe(row) for row in rows]
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    for entry in described:
        names = ",".join(sorted({event["name"] for event in entry["events"]}))
        print(
            f"{entry['id']}  app={entry['app_id']}  created={entry['created_at']}  "
            f"attempts={entry['attempts']}  events={len(entry['events'])} ({names})  "
            f"{entry['url']}  last error: {entry['last_error']}"
        )
    print(f"{len(rows)} dead-letter webhook(s) in {path}")
    if rows:
        print("replay with `tidings webhooks replay ID ...` or `tidings webhooks replay --all`")
    return 0


def replay_command(args: argparse.Namespace) -> int:
    from tidings.eventloop import run_async

    if bool(args.ids) == bool(args.all):
        print("tidings webhooks replay: give some IDs or --all (not both)")
        return 2
    cfg = _config(args)
    path = queue_path(cfg.server.data_dir)
    if not path.exists():
        print(f"no webhook queue at {path}; pass the server's --data-dir")
        return 1
    outcome: list[int] = []
    run_async(_replay(cfg, path, None if args.all else list(args.ids), outcome))
    return outcome[0]


async def _replay(cfg: config.Config, path: Any, ids: list[int] | None, outcome: list[int]) -> None:
    # Signed with the app's current secret: from the config, or the app database.
    apps = await open_app_store(cfg, follow=False)
    queue = SqliteQueue(path)
    sender = Sender(cfg.server.webhook_timeout)
    await queue.open()
    status = 0
    try:
        rows = await queue.dead_letters(ids)
        for missing in sorted(set(ids or ()) - {row.id for row in rows}):
            print(f"{missing}: no dead-letter webhook with this id")
            status = 1
        for row in rows:
            app = apps.by_id(row.webhook.app_id)
            if app is None:
                print(f"{row.id}: app {row.webhook.app_id} is not configured; pass --config")
                status = 1
                continue
            now = time.time()
            error = await sender.post(row.webhook, app, restamp(row.webhook.body, int(now * 1000)))
            if error is None:
                await queue.delivered(row.id)
                print(f"{row.id}: delivered to {row.webhook.url}")
            else:
                await queue.dead_letter(row.id, row.attempts + 1, error, now)
                print(f"{row.id}: failed again ({error}); still in the dead-letter store")
                status = 1
    finally:
        await sender.close()
        await queue.close()
        await close_app_store(apps)
    outcome.append(status)
