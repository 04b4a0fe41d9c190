"""What the server reads: the config file's and environment's apps over a database's.

Both are merged into one pair of dictionaries, rebuilt whenever the database changes, so a
lookup costs what it costs with the static store alone: one ``dict.get``. Apps from the config
are read-only and win over a database app with the same id or key (logged once). The built-in
development app stands in only while there is no other app at all: the first app added to
the database replaces it, so its well-known secret never guards a real app.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tidings.apps.app import App
from tidings.apps.database import AppDatabase, Snapshot

log = logging.getLogger("tidings.apps")


class AppDirectory(Snapshot):
    def __init__(
        self, static: Sequence[App], database: AppDatabase, dev_app: App | None = None
    ) -> None:
        self.static = tuple(static)
        self.database = database
        self.dev_app = dev_app
        super().__init__()
        self._shadowed: set[str] = set()
        self._merge()
        database.watch(lambda changes: self._merge())

    def ready(self) -> bool:
        return self.database.ready()

    def is_static(self, app_id: str) -> bool:
        return any(app.id == app_id for app in self.static)

    def _merge(self) -> None:
        by_id = {app.id: app for app in self.static}
        by_key = {app.key: app for app in self.static}
        stored = self.database.all()
        for app in stored:
            if app.id in by_id or app.key in by_key:
                if app.id not in self._shadowed:
                    self._shadowed.add(app.id)
                    log.warning(
                        "app %s in the app database has the id or key of an app in the config "
                        "file or environment, which wins; change one of them",
                        app.id,
                    )
                continue
            by_id[app.id] = app
            by_key[app.key] = app
        if self.dev_app is not None and not stored:
            by_id[self.dev_app.id] = self.dev_app
            by_key[self.dev_app.key] = self.dev_app
        self._replace(by_id, by_key)
