"""The app store interface and the static driver (apps from configuration)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from tidings.apps.app import App


class AppStore(Protocol):
    def by_id(self, app_id: str) -> App | None: ...

    def by_key(self, key: str) -> App | None: ...

    def all(self) -> list[App]: ...


class StaticAppStore:
    """Apps fixed at start-up; lookups are dictionary reads, cheap enough for every frame."""

    def __init__(self, apps: Iterable[App]) -> None:
        self._apps = list(apps)
        self._by_id = {app.id: app for app in self._apps}
        self._by_key = {app.key: app for app in self._apps}

    def by_id(self, app_id: str) -> App | None:
        return self._by_id.get(app_id)

    def by_key(self, key: str) -> App | None:
        return self._by_key.get(key)

    def all(self) -> list[App]:
        return list(self._apps)
