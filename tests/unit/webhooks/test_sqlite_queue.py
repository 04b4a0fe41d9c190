"""The SQLite queue on a real file: claims, retries, dead letters, and what survives a reopen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tidings.webhooks.queue import NewWebhook, SqliteQueue


def webhook(n: int, at: float = 100.0) -> NewWebhook:
    body = b'{"time_ms":%d,"events":[]}' % n
    return NewWebhook("4242", f"http://receiver.test/{n}", (("X-Env", "test"),), body, at)


async def test_pushed_webhooks_are_claimed_once_and_deleted_when_delivered(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    await queue.open()
    await queue.push([webhook(1), webhook(2)])
    assert queue.pending_count == 2
    first = await queue.due(now=100.0, limit=1, lease=30.0)
    assert [row.webhook for row in first] == [webhook(1)]
    # Claimed: neither this process nor another sharing the file takes it again meanwhile.
    second = await queue.due(now=100.0, limit=10, lease=30.0)
    assert [row.webhook.url for row in second] == ["http://receiver.test/2"]
    assert await queue.due(now=101.0, limit=10, lease=30.0) == []
    await queue.delivered(first[0].id)
    assert queue.pending_count == 1
    # A claim that ran out (its holder crashed) makes the webhook due again.
    [again] = await queue.due(now=131.0, limit=10, lease=30.0)
    assert again.id == second[0].id
    await queue.close()


async def test_retries_wait_and_dead_letters_stay_until_replayed(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    queue = SqliteQueue(path)
    await queue.open()
    await queue.push([webhook(1), webhook(2)])
    one, two = await queue.due(100.0, 10, 30.0)
    await queue.retry_later(one.id, attempts=1, next_attempt_at=105.0, error="HTTP 503")
    await queue.dead_letter(two.id, attempts=7, error="HTTP 500", now=400.0)
    assert (queue.pending_count, queue.dead_count) == (1, 1)
    assert await queue.due(104.0, 10, 30.0) == []
    assert await queue.next_due_at() == 105.0
    await queue.close()

    reopened = SqliteQueue(path)
    await reopened.open()
    assert (reopened.pending_count, reopened.dead_count) == (1, 1)
    [retry] = await reopened.due(105.0, 10, 30.0)
    assert (retry.id, retry.attempts, retry.last_error) == (one.id, 1, "HTTP 503")
    [dead] = await reopened.dead_letters()
    assert (dead.id, dead.attempts, dead.failed_at, dead.last_error) == (
        two.id,
        7,
        400.0,
        "HTTP 500",
    )
    assert dead.webhook == webhook(2)
    assert await reopened.dead_letters([one.id]) == []
    await reopened.delivered(dead.id)
    assert (reopened.pending_count, reopened.dead_count) == (1, 0)
    await reopened.close()


CLAIM_AND_DIE = """
import asyncio, os, sys
from tidings.webhooks.queue import SqliteQueue

async def main():
    queue = SqliteQueue(sys.argv[1])
    await queue.open()
    claimed = await queue.due(now=100.0, limit=10, lease=3600.0)
    print(len(claimed), flush=True)
    os._exit(0)  # like a SIGKILL mid-attempt: no release, no close

asyncio.run(main())
"""


async def test_claims_of_a_process_that_died_lapse_when_the_queue_is_reopened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    queue = SqliteQueue(path)
    await queue.open()
    await queue.push([webhook(1)])
    await queue.close()
    claimer = subprocess.run(
        [sys.executable, "-c", CLAIM_AND_DIE, str(path)], capture_output=True, text=True
    )
    assert claimer.stdout.strip() == "1", claimer.stderr

    restarted = SqliteQueue(path)
    await restarted.open()
    [row] = await restarted.due(now=100.0, limit=10, lease=30.0)
    assert row.webhook == webhook(1)
    await restarted.close()
