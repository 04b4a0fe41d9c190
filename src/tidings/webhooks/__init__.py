"""Webhooks: observe the event bus, batch per app and target, queue durably, sign and deliver."""

from tidings.webhooks.service import WebhookService, WebhookSettings, WebhookStats

__all__ = ["WebhookService", "WebhookSettings", "WebhookStats"]
