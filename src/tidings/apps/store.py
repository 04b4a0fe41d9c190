"""The app store interface and the static driver (apps from configuration)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from tidings.apps.app import App

# (before, after): None before for an added app, None after for a removed one.
Change = tuple[App | None, App | None]
ChangeListener = Callable[[list[Change]], None]


class AppStore(Protocol):
    """What the server reads on every connect and API call: synchronous, from memory."""

    def by_id(self, app_id: str) -> App | None: ...

    def by_key(self, key: str) -> App | None: ...

    def all(self) -> list[App]: ...

    def ready(self) -> bool:
        """False until the apps have been read once (a database store at start-up)."""
        ...

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` after apps change; returns what stops it."""
        ...


def _unwatch() -> None:
    pass


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

    def ready(self) -> bool:
        return True

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        return _unwatch  # nothing ever changes
