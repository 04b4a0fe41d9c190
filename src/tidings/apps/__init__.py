"""Where apps come from: ``AppStore`` is the interface, ``StaticAppStore`` the config driver."""

from tidings.apps.app import App, WebhookTarget
from tidings.apps.store import AppStore, StaticAppStore

__all__ = ["App", "AppStore", "StaticAppStore", "WebhookTarget"]
