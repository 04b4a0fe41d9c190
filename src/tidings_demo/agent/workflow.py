"""One agent run: echo the user's message, report progress, stream the reply, say done.

Every step builds its own Pusher client (the guide: "initialize Pusher inside a step, not at
module level"), and a send that fails is retried with backoff; if it still fails the run is
marked failed, logged, and a last ``error`` event is attempted, so nothing is swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from tidings_demo import notify
from tidings_demo.agent.assistant import Assistant
from tidings_demo.config import DemoConfig

log = logging.getLogger("tidings_demo.agent")

EVENT = "agent-message"
Role = Literal["user", "assistant"]
State = Literal["running", "done", "failed"]


def channel_for(session_id: str) -> str:
    return f"agent-{session_id}"


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 4
    first_delay: float = 0.25

    def delay(self, attempt: int) -> float:
        return self.first_delay * 2.0 ** (attempt - 1)


@dataclass(slots=True)
class RunStatus:
    session_id: str
    state: State = "running"
    sent: int = 0
    retries: int = 0
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "channel": channel_for(self.session_id),
            "state": self.state,
            "sent": self.sent,
            "retries": self.retries,
            "error": self.error,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }


class StepFailed(Exception):
    pass


async def send_notification(
    config: DemoConfig,
    status: RunStatus,
    type_: str,
    message: str,
    role: Role,
    retry: Retry,
) -> None:
    """A workflow step: its own client, then the trigger, retried with exponential backoff."""
    client = notify.new_client(config)
    payload = {"type": type_, "message": message, "role": role, "sessionId": status.session_id}
    channel = channel_for(status.session_id)
    for attempt in range(1, retry.attempts + 1):
        try:
            await notify.send_with(client, config, channel, EVENT, payload)
        except notify.SendError as exc:
            if attempt == retry.attempts:
                raise StepFailed(f"{type_} step failed after {attempt} attempts: {exc}") from exc
            status.retries += 1
            log.warning("agent %s: %s send failed (%s); retrying", status.session_id, type_, exc)
            await asyncio.sleep(retry.delay(attempt))
        else:
            status.sent += 1
            return


async def run(
    config: DemoConfig, assistant: Assistant, status: RunStatus, message: str, retry: Retry
) -> None:
    try:
        await send_notification(config, status, "message", message, "user", retry)
        await send_notification(config, status, "progress", "Thinking\u2026", "assistant", retry)
        async for part in assistant.reply(message):
            await send_notification(config, status, "chunk", part, "assistant", retry)
        await send_notification(config, status, "done", "Done", "assistant", retry)
    except StepFailed as exc:
        status.state, status.error = "failed", str(exc)
        log.error("agent run %s failed: %s", status.session_id, exc)
        # One last try to tell the listener; it fails too if tidings is still away.
        with contextlib.suppress(StepFailed):
            await send_notification(config, status, "error", str(exc), "assistant", Retry(1))
    except Exception as exc:
        status.state, status.error = "failed", f"{type(exc).__name__}: {exc}"
        log.exception("agent run %s crashed", status.session_id)
    else:
        status.state = "done"
    finally:
        status.finished_at = time.time()


class AlreadyRunning(Exception):
    pass


class Runs:
    """Background runs by session id, and the status of recent ones."""

    def __init__(
        self, config: DemoConfig, assistant: Assistant, retry: Retry | None = None
    ) -> None:
        self.config = config
        self.assistant = assistant
        self.retry = retry or Retry()
        self._status: OrderedDict[str, RunStatus] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self.keep = 1000

    def start(self, session_id: str, message: str) -> RunStatus:
        previous = self._status.get(session_id)
        if previous is not None and previous.state == "running":
            raise AlreadyRunning(session_id)
        status = RunStatus(session_id)
        self._status[session_id] = status
        self._status.move_to_end(session_id)
        while len(self._status) > self.keep:
            self._status.popitem(last=False)
        task = asyncio.create_task(run(self.config, self.assistant, status, message, self.retry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return status

    def get(self, session_id: str) -> RunStatus | None:
        return self._status.get(session_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
