"""The webhook service: observe the event bus, batch, persist, deliver, retry, dead-letter.

The bus listener only does dictionary work (``Batcher``); finished batches are written to the
durable queue by one writer task and posted by a delivery task, so neither SQLite nor HTTP ever
runs inside fan-out. A departure whose vacate delay is over is first confirmed with the hub
(``Adapter.confirm_departures``), which knows whether it came back on any node meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from tidings.apps import AppStore
from tidings.config import Config, ConfigError, ServerSettings
from tidings.events import Activity, ActivityKind, EventBus, HubEvent, tell
from tidings.hub import Adapter, HubUnavailable
from tidings.webhooks.batcher import Batch, Batcher, Departure
from tidings.webhooks.payload import batch_body
from tidings.webhooks.queue import NewWebhook, QueuedWebhook, SqliteQueue, WebhookQueue, queue_path
from tidings.webhooks.retry import RetryPolicy
from tidings.webhooks.sender import Sender

log = logging.getLogger("tidings.webhooks")

# Requests in flight at once across all receivers: enough to keep a slow receiver from holding
# up the others, few enough not to flood one that is just coming back.
MAX_IN_FLIGHT = 8
# A claim outlives the HTTP timeout by this much, for the bookkeeping after the answer. Claims
# of a killed process are released when the queue is next opened, so this only delays a
# surviving worker picking up a crashed sibling's attempts.
CLAIM_MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    batch_window: float
    batch_max: int | None  # None: no size limit, only the window
    vacate_delay: float
    timeout: float
    retry: RetryPolicy

    @classmethod
    def from_server(cls, server: ServerSettings) -> WebhookSettings:
        for name in ("webhook_batch_window", "webhook_vacate_delay", "webhook_backoff_base"):
            if getattr(server, name) < 0:
                raise ConfigError(f"[server] '{name}' must be >= 0 seconds")
        for name in ("webhook_timeout", "webhook_backoff_max"):
            if getattr(server, name) <= 0:
                raise ConfigError(f"[server] '{name}' must be > 0 seconds")
        if server.webhook_batch_max == 0:
            raise ConfigError("[server] 'webhook_batch_max' must be >= 1 (or -1 for no limit)")
        period = server.webhook_retry_period
        return cls(
            batch_window=server.webhook_batch_window,
            batch_max=None if server.webhook_batch_max == -1 else server.webhook_batch_max,
            vacate_delay=server.webhook_vacate_delay,
            timeout=server.webhook_timeout,
            retry=RetryPolicy(
                period=math.inf if period == -1 else period,
                base=server.webhook_backoff_base,
                cap=server.webhook_backoff_max,
            ),
        )


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """Counters for metrics. ``buffered``: events in memory (batch window, vacate delay, not yet
    written); ``queued``: webhooks in the durable queue awaiting a 2xx; ``dead_letters``: those
    whose retry period ran out. ``sent``/``retried``/``failed`` count since start."""

    buffered: int
    queued: int
    in_flight: int
    dead_letters: int
    sent: int
    retried: int
    failed: int


class WebhookService:
    def __init__(
        self,
        settings: WebhookSettings,
        apps: AppStore,
        bus: EventBus,
        hub: Adapter,
        queue: WebhookQueue,
        sender: Sender,
        *,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._apps = apps
        self._bus = bus
        self._hub = hub
        self._queue = queue
        self._sender = sender
        self._clock = clock
        self._jitter = jitter
        self._batcher = Batcher(settings.batch_window, settings.batch_max, settings.vacate_delay)
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._confirming: set[asyncio.Task[None]] = set()
        self._unconfirmed = 0  # departures out for confirmation, for stats
        self._unsaved: list[tuple[NewWebhook, int]] = []
        self._write_lock = asyncio.Lock()
        self._unsaved_ready = asyncio.Event()
        self._deliver_wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._sent = self._retried = self._failed = 0

    @classmethod
    def for_config(
        cls, config: Config, apps: AppStore, bus: EventBus, hub: Adapter
    ) -> WebhookService | None:
        """The service, or None when no app has webhooks and no earlier run left any queued."""
        settings = WebhookSettings.from_server(config.server)
        path = queue_path(config.server.data_dir)
        if not any(app.webhooks for app in apps.all()) and not path.exists():
            return None
        return cls(settings, apps, bus, hub, SqliteQueue(path), Sender(settings.timeout))

    # -- life cycle ---------------------------------------------------------------------------
    def observe(self) -> None:
        """Listen to the event stream from now on; what arrives before ``start()`` has opened
        the queue waits in memory (a service started for an app added while tidings runs)."""
        if self._unsubscribe is None:
            self._loop = asyncio.get_running_loop()
            self._unsubscribe = self._bus.subscribe(self._observe)

    async def start(self) -> None:
        try:
            await self._queue.open()
        except (OSError, sqlite3.Error) as error:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            raise ConfigError(
                f"cannot open the webhook queue ({error}); set --data-dir, TIDINGS_DATA_DIR or "
                "[server] data_dir to a writable directory"
            ) from None
        self.observe()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="webhooks-writer"),
            asyncio.create_task(self._deliver_loop(), name="webhooks-delivery"),
        ]
        self._deliver_wake.set()  # whatever an earlier run left pending

    async def close(self, grace: float) -> None:
        """Write everything buffered, give deliveries up to ``grace`` seconds, then stop; the
        rest stays queued. Delayed departures are confirmed at once rather than after their
        delay: whoever returns later (elsewhere in a cluster) then finds no mark and is
        reported too, rather than swallowed as the return from a departure that was sent."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await asyncio.gather(*self._confirming)  # they route, but no longer schedule
        self._hand_over(await self._confirmed(self._batcher.departures_due(math.inf)))
        self._hand_over(self._batcher.drain())
        writer, deliverer = self._tasks
        async with self._write_lock:
            writer.cancel()  # it waits for the lock or the event, never inside a push
        try:
            await self._persist()
        except Exception:
            log.exception("could not write %d webhook(s) at shutdown", len(self._unsaved))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline and await self._deliverable_now():
            await asyncio.sleep(0.05)
        deliverer.cancel()
        for task in self._in_flight.values():
            task.cancel()  # an interrupted attempt stays queued and is sent again next start
        await asyncio.gather(*self._tasks, *self._in_flight.values(), return_exceptions=True)
        await self._sender.close()
        await self._queue.close()

    async def _deliverable_now(self) -> bool:
        if self._in_flight:
            return True
        next_at = await self._queue.next_due_at()
        return next_at is not None and next_at <= self._clock()

    def stats(self) -> WebhookStats:
        return WebhookStats(
            buffered=len(self._batcher)
            + self._unconfirmed
            + sum(count for _, count in self._unsaved),
            queued=self._queue.pending_count,
            in_flight=len(self._in_flight),
            dead_letters=self._queue.dead_count,
            sent=self._sent,
            retried=self._retried,
            failed=self._failed,
        )

    # -- hot path: called inline by the bus ---------------------------------------------------
    def _observe(self, event: HubEvent) -> None:
        app = self._apps.by_id(event.app_id)
        if app is None or not app.webhooks:
            return
        loop = self._loop
        assert loop is not None, "subscribed only once started"
        ready = self._batcher.add(app, event, loop.time())
        if ready:
            self._hand_over(ready)
        self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = self._batcher.next_deadline()
        if deadline is None or (self._timer is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = loop.call_at(deadline, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        # Timers may fire a hair early (uvloop rounds to milliseconds); the deadline has come.
        now = max(loop.time(), self._timer_at)
        departures = self._batcher.departures_due(now)
        if departures:
            task = loop.create_task(self._confirm_later(departures, loop))
            self._confirming.add(task)
            task.add_done_callback(self._confirming.discard)
        self._hand_over(self._batcher.due(now))
        self._schedule(loop)

    async def _confirm_later(
        self, departures: list[Departure], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._hand_over(await self._confirmed(departures))
        if self._unsubscribe is not None:  # not closing: close() takes it from here
            self._schedule(loop)

    async def _confirmed(self, departures: list[Departure]) -> list[Batch]:
        """The batches filled by those departures nobody returned from, anywhere."""
        if not departures:
            return []
        self._unconfirmed += len(departures)
        try:
            verdicts = await self._hub.confirm_departures([d.event for d in departures])
        except HubUnavailable as error:
            # At least once: a departure reported twice beats one never reported.
            log.warning("cannot confirm %d departure(s) (%s); sending them", len(departures), error)
            verdicts = [True] * len(departures)
        except Exception:
            log.exception("cannot confirm %d departure(s); sending them", len(departures))
            verdicts = [True] * len(departures)
        finally:
            self._unconfirmed -= len(departures)
        now = asyncio.get_running_loop().time()
        ready: list[Batch] = []
        for departure, gone in zip(departures, verdicts, strict=True):
            if gone:
                ready += self._batcher.route(departure, now)
        return ready

    def _hand_over(self, batches: list[Batch]) -> None:
        if not batches:
            return
        now = self._clock()
        time_ms = int(now * 1000)
        for batch in batches:
            target = batch.target
            body = batch_body(time_ms, batch.events)
            webhook = NewWebhook(batch.app_id, target.url, target.headers, body, now)
            self._unsaved.append((webhook, len(batch.events)))
        self._unsaved_ready.set()

    # -- persisting ---------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            await self._unsaved_ready.wait()
            self._unsaved_ready.clear()
            try:
                await self._persist()
            except Exception:
                log.exception("could not write %d webhook(s); retrying", len(self._unsaved))
                await asyncio.sleep(1.0)
                self._unsaved_ready.set()

    async def _persist(self) -> None:
        async with self._write_lock:
            while self._unsaved:
                taken, self._unsaved = self._unsaved, []
                try:
                    await self._queue.push([webhook for webhook, _ in taken])
                except BaseException:
                    self._unsaved[:0] = taken
                    raise
            self._deliver_wake.set()

    # -- delivering ---------------------------------------------------------------------------
    async def _deliver_loop(self) -> None:
        while True:
            self._deliver_wake.clear()
            try:
                timeout = await self._start_due()
            except Exception:
                log.exception("could not read the webhook queue; retrying")
                timeout = 1.0
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # lands as the wake is set (close() sets it just before cancelling), and this loop
            # then never stops: close() hung in its gather.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._deliver_wake.wait()

    async def _start_due(self) -> float | None:
        """Start attempts that are due; return how long to sleep if nothing else happens."""
        free = MAX_IN_FLIGHT - len(self._in_flight)
        if free <= 0:
            return None  # a finishing attempt wakes us
        lease = self.settings.timeout + CLAIM_MARGIN
        for row in await self._queue.due(self._clock(), free, lease):
            self._in_flight[row.id] = asyncio.create_task(self._attempt(row))
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            return None
        next_at = await self._queue.next_due_at()
        return None if next_at is None else max(0.01, next_at - self._clock())

    async def _attempt(self, row: QueuedWebhook) -> None:
        webhook = row.webhook
        try:
            app = self._apps.by_id(webhook.app_id)
            if app is None:
                error: str | None = f"app {webhook.app_id} is no longer configured"
            else:
                error = await self._sender.post(webhook, app)
            if error is None:
                await self._queue.delivered(row.id)
                self._sent += 1
                if self._bus.activity:
                    self._tell(row, None)
                return
            failures = row.attempts + 1
            now = self._clock()
            next_at = self.settings.retry.next_attempt(
                webhook.created_at, now, failures, self._jitter()
            )
            if next_at is None:
                await self._queue.dead_letter(row.id, failures, error, now)
                self._failed += 1
                log.warning(
                    "webhook %d to %s dead-lettered after %d attempts: %s "
                    "(replay with `tidings webhooks replay %d`)",
                    row.id, webhook.url, failures, error, row.id,
                )  # fmt: skip
            else:
                await self._queue.retry_later(row.id, failures, next_at, error)
                self._retried += 1
                log.info("webhook %d to %s failed (%s); retrying", row.id, webhook.url, error)
            if self._bus.activity:
                self._tell(row, error if next_at is not None else f"{error}; dead-lettered")
        except Exception:
            log.exception("webhook %d: delivery bookkeeping failed", row.id)
        finally:
            self._in_flight.pop(row.id, None)
            self._deliver_wake.set()

    def _tell(self, row: QueuedWebhook, error: str | None) -> None:
        """Activity for the console: what this attempt carried and how it went."""
        webhook = row.webhook
        events = [
            {"name": event.get("name"), "channel": event.get("channel")}
            for event in orjson.loads(webhook.body).get("events", ())
        ]
        kind = ActivityKind.WEBHOOK_SENT if error is None else ActivityKind.WEBHOOK_FAILED
        detail = webhook.url if error is None else f"{webhook.url}: {error}"
        activity = Activity(kind, webhook.app_id, code=row.attempts + 1, detail=detail, data=events)
        tell(self._bus.activity, activity)
