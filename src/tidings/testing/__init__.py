"""Test a Pusher integration offline against a real tidings in the test process.

``with tidings.testing.run() as server:`` works anywhere; under pytest the plugin
(``tidings.testing.plugin``, registered through the ``pytest11`` entry point) provides the
``tidings_server``, ``pusher_client``, ``tidings_events``, ``pusher_socket`` and
``tidings_webhooks`` fixtures. Reference: docs/testing.md. Importing this package never
imports pytest.

Names are imported on first use: pytest loads the plugin (and so this package) in every
suite of an environment where tidings is installed, and those that never use it must not
pay for the server's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidings.testing.client import (
        PusherSocket,
        SocketEvent,
        SocketFactory,
        SubscriptionRefused,
    )
    from tidings.testing.recorder import EventRecorder, PublishedEvent
    from tidings.testing.server import TidingsServer, run
    from tidings.testing.webhooks import WebhookReceiver, WebhookRequest

_HOMES = {
    "PusherSocket": "client",
    "SocketEvent": "client",
    "SocketFactory": "client",
    "SubscriptionRefused": "client",
    "EventRecorder": "recorder",
    "PublishedEvent": "recorder",
    "TidingsServer": "server",
    "run": "server",
    "WebhookReceiver": "webhooks",
    "WebhookRequest": "webhooks",
}

__all__ = [
    "EventRecorder",
    "PublishedEvent",
    "PusherSocket",
    "SocketEvent",
    "SocketFactory",
    "SubscriptionRefused",
    "TidingsServer",
    "WebhookReceiver",
    "WebhookRequest",
    "run",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tidings.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tidings.testing.{home}"), name)
