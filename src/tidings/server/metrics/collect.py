"""The figures of this process as Prometheus metric families, built when a scrape asks.

Gauges (connections, channels, members) are counted from the live state, not kept up to date
on every change: a gauge counted from what exists cannot drift, and cannot go negative.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from tidings.metrics.figures import LATENCY_BOUNDS, AppFigures, Latencies, redis_round_trip_errors
from tidings.server.context import Context

_PROCESS = ProcessCollector(registry=None)
_APP = ["app_id"]
_BUCKETS = [*(repr(bound) for bound in LATENCY_BOUNDS), "+Inf"]


def _counter(name: str, documentation: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=_APP if labels is None else labels)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=_APP if labels is None else labels)


def collect(ctx: Context) -> Iterator[Metric]:
    yield from _connections(ctx)
    yield from _channels(ctx)
    yield from _traffic(ctx)
    yield from _api(ctx)
    yield from _refusals(ctx)
    yield from _webhooks(ctx)
    yield from _cluster(ctx)
    tasks = GaugeMetricFamily("tidings_asyncio_tasks", "asyncio tasks alive in the process")
    tasks.add_metric([], len(asyncio.all_tasks()))
    yield tasks
    yield from _PROCESS.collect()


def _apps(ctx: Context) -> dict[str, AppFigures]:
    return ctx.figures.apps()


def _connections(ctx: Context) -> Iterator[Metric]:
    open_ = _gauge("tidings_connections", "WebSocket connections open on this node")
    counts: dict[str, int] = dict.fromkeys(
        (app_id for app_id in _apps(ctx) if app_id != ctx.figures.UNKNOWN_APP), 0
    )
    for conn in ctx.connections.values():
        counts[conn.app.id] = counts.get(conn.app.id, 0) + 1
    for app_id, count in counts.items():
        open_.add_metric([app_id], count)
    yield open_
    opened = _counter("tidings_connections_opened", "WebSocket connections accepted")
    closed = _counter(
        "tidings_connections_closed",
        "WebSocket connections ended, by the close code sent first (1006: none, the TCP "
        "connection dropped)",
        ["app_id", "code"],
    )
    refused = _counter(
        "tidings_connections_refused",
        "WebSockets turned away before they became connections, by close code",
        ["app_id", "code"],
    )
    for app_id, figures in _apps(ctx).items():
        opened.add_metric([app_id], figures.connections_opened)
        for code, count in sorted(figures.connections_closed.items()):
            closed.add_metric([app_id, str(code)], count)
        for code, count in sorted(figures.connections_refused.items()):
            refused.add_metric([app_id, str(code)], count)
    yield from (opened, closed, refused)


def _channels(ctx: Context) -> Iterator[Metric]:
    labels = ["app_id", "kind"]
    channels = _gauge("tidings_channels", "Occupied channels on this node, by kind", labels)
    subscriptions = _gauge("tidings_subscriptions", "Subscriptions on this node, by kind", labels)
    members = _gauge("tidings_presence_members", "Presence members on this node (per channel)")
    for app_id, census in ctx.adapter.local.census().items():
        for kind, count in sorted(census.channels.items()):
            channels.add_metric([app_id, kind], count)
        for kind, count in sorted(census.subscriptions.items()):
            subscriptions.add_metric([app_id, kind], count)
        members.add_metric([app_id], census.presence_members)
    yield from (channels, subscriptions, members)


def _traffic(ctx: Context) -> Iterator[Metric]:
    sent = _counter("tidings_socket_messages_sent", "Messages queued to WebSockets")
    sent_bytes = _counter("tidings_socket_sent_bytes", "Bytes of WebSocket frames queued")
    received = _counter("tidings_socket_messages_received", "Messages received from WebSockets")
    received_bytes = _counter(
        "tidings_socket_received_bytes", "Bytes of messages received from WebSockets"
    )
    published = _counter(
        "tidings_events_published",
        "Events published: through the HTTP API (one per channel) or as client events",
        ["app_id", "source"],
    )
    traffic = ctx.adapter.local.traffic
    for app_id, figures in _apps(ctx).items():
        delivered = traffic.get(app_id)
        sent.add_metric([app_id], figures.replies_sent + (delivered.messages if delivered else 0))
        sent_bytes.add_metric(
            [app_id], figures.reply_bytes_sent + (delivered.size if delivered else 0)
        )
        received.add_metric([app_id], figures.messages_received)
        received_bytes.add_metric([app_id], figures.bytes_received)
        published.add_metric([app_id, "api"], figures.api_events())
        published.add_metric([app_id, "client"], figures.client_events)
    yield from (sent, sent_bytes, received, received_bytes, published)


def _api(ctx: Context) -> Iterator[Metric]:
    requests = _counter(
        "tidings_http_requests", "HTTP API requests answered", ["app_id", "endpoint", "status"]
    )
    durations = HistogramMetricFamily(
        "tidings_http_request_duration_seconds",
        "Time to answer an API request, timed for a sample: every request while they come "
        "slower than one per 10 ms (per endpoint, all apps together, and process), about 100 "
        "a second when faster",
        labels=["app_id", "endpoint"],
    )
    for app_id, figures in _apps(ctx).items():
        for name, endpoint in sorted(figures.endpoints.items()):
            for status, count in sorted(endpoint.statuses().items()):
                requests.add_metric([app_id, name, str(status)], count)
            durations.add_metric(
                [app_id, name], _cumulative(endpoint.latency), endpoint.latency.total
            )
    yield from (requests, durations)


def _cumulative(latencies: Latencies) -> list[tuple[str, float]]:
    running, buckets = 0, []
    for bound, count in zip(_BUCKETS, latencies.buckets, strict=True):
        running += count
        buckets.append((bound, float(running)))
    return buckets


def _refusals(ctx: Context) -> Iterator[Metric]:
    limited = _counter(
        "tidings_rate_limited",
        "Requests and client events refused by a rate limit",
        ["app_id", "limit"],
    )
    refused = _counter("tidings_subscriptions_refused", "Subscriptions refused")
    slow = _counter(
        "tidings_slow_consumers_closed",
        "Connections closed (4100) because they read too slowly for what they were sent",
    )
    for app_id, figures in _apps(ctx).items():
        limited.add_metric([app_id, "api"], figures.api_rate_limited)
        limited.add_metric([app_id, "client_events"], figures.client_events_rate_limited)
        refused.add_metric([app_id], figures.subscriptions_refused)
        slow.add_metric([app_id], figures.slow_consumers)
    yield from (limited, refused, slow)


def _webhooks(ctx: Context) -> Iterator[Metric]:
    if ctx.webhooks is None:
        return
    stats = ctx.webhooks.stats()
    for name, documentation, value in (
        ("tidings_webhook_events_buffered", "Events waiting to be batched", stats.buffered),
        ("tidings_webhook_queue_depth", "Webhooks in the durable queue", stats.queued),
        ("tidings_webhooks_in_flight", "Webhook requests under way", stats.in_flight),
        ("tidings_webhook_dead_letters", "Dead-lettered webhooks kept", stats.dead_letters),
    ):
        gauge = GaugeMetricFamily(name, documentation)
        gauge.add_metric([], value)
        yield gauge
    for name, documentation, value in (
        ("tidings_webhooks_sent", "Webhooks a receiver answered with 2xx", stats.sent),
        ("tidings_webhooks_retried", "Webhook attempts that failed and wait", stats.retried),
        ("tidings_webhooks_dead_lettered", "Webhooks given up on", stats.failed),
    ):
        counter = CounterMetricFamily(name, documentation)
        counter.add_metric([], value)
        yield counter


def _cluster(ctx: Context) -> Iterator[Metric]:
    nodes = ctx.adapter.node_count()
    if ctx.adapter.in_process:
        return
    errors = CounterMetricFamily("tidings_redis_errors", "Redis round trips that failed")
    errors.add_metric([], redis_round_trip_errors.count)
    yield errors
    if nodes is not None:
        gauge = GaugeMetricFamily("tidings_cluster_nodes", "Nodes registered in Redis")
        gauge.add_metric([], nodes)
        yield gauge
