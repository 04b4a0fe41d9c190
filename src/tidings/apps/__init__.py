"""Where apps come from: ``AppStore`` is the interface the server reads, ``StaticAppStore`` the
config driver; the database drivers (SQLite, PostgreSQL) are chosen by ``tidings.apps.choose``
and imported only then, so the pure layers importing ``App`` pull in no I/O."""

from tidings.apps.app import App, WebhookTarget
from tidings.apps.store import AppStore, Change, ChangeListener, StaticAppStore

__all__ = ["App", "AppStore", "Change", "ChangeListener", "StaticAppStore", "WebhookTarget"]
