"""Durable webhook queues: ``base.WebhookQueue`` and the embedded SQLite driver."""

from tidings.webhooks.queue.base import NewWebhook, QueuedWebhook, WebhookQueue
from tidings.webhooks.queue.sqlite import SqliteQueue, queue_path

__all__ = ["NewWebhook", "QueuedWebhook", "SqliteQueue", "WebhookQueue", "queue_path"]
