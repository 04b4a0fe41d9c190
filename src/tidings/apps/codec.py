"""An ``App`` as a database row, and the ``NAME=VALUE`` settings of ``tidings apps``.

A row keeps the credentials and ``enabled`` in columns and every other setting as a JSON object
under the names of the config file's ``[[apps]]`` tables, holding only the settings that differ
from the defaults: a default changed in a later release then reaches stored apps too, and a new
setting needs no migration. Rows are read back through the config's own validation, so a row
edited by hand is held to the same rules as the config file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.apps.app import App, WebhookTarget
from tidings.config import WEBHOOK_EVENT_TYPES, ConfigError, build_app

CREDENTIALS = ("id", "key", "secret", "enabled")
_DEFAULTS = App(id="-", key="-", secret="-")
SETTINGS = tuple(f.name for f in dataclasses.fields(App) if f.init and f.name not in CREDENTIALS)


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    key: str
    secret: str
    enabled: bool
    settings: str  # a JSON object

    @classmethod
    def of(cls, app: App) -> Row:
        settings = orjson.dumps(settings_of(app)).decode()
        return cls(app.id, app.key, app.secret, app.enabled, settings)

    def app(self) -> App:
        """The app, or ConfigError naming the row and the setting that is wrong."""
        where = f"app {self.id!r} in the app database"
        try:
            settings = orjson.loads(self.settings or "{}")
        except orjson.JSONDecodeError:
            raise ConfigError(f"{where}: its settings are not valid JSON") from None
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}: its settings must be a JSON object")
        for name in CREDENTIALS:
            settings.pop(name, None)
        values = {"id": self.id, "key": self.key, "secret": self.secret, "enabled": self.enabled}
        return build_app(where, {**settings, **values})


def settings_of(app: App) -> dict[str, Any]:
    """The app's settings that differ from the defaults, as an ``[[apps]]`` table has them."""
    values: dict[str, Any] = {}
    for name in SETTINGS:
        value = getattr(app, name)
        if value == getattr(_DEFAULTS, name):
            continue
        values[name] = [_webhook(t) for t in value] if name == "webhooks" else value
    return values


def _webhook(target: WebhookTarget) -> dict[str, Any]:
    table: dict[str, Any] = {"url": target.url}
    if set(target.event_types) != set(WEBHOOK_EVENT_TYPES):  # left out, as in a config: all
        table["event_types"] = list(target.event_types)
    if target.channel_prefix:
        table["filter"] = {"channel_name_starts_with": target.channel_prefix}
    if target.headers:
        table["headers"] = dict(target.headers)
    return table


# Settings that are lists of tables in the config file: JSON on the command line.
_JSON_EXAMPLES = {
    "webhooks": """webhooks='[{"url": "https://..."}]'""",
    "history": """history='[{"channels": "agent-*", "max_events": 500, "ttl": 3600}]'""",
}


def assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """``NAME=VALUE`` words from the command line; an empty VALUE means "back to the default".
    ``webhooks`` and ``history`` take JSON (a list of tables as in the config file); other
    values are strings the config's validation turns into numbers and booleans."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ConfigError(f"{pair!r}: settings are NAME=VALUE, e.g. max_connections=100")
        if name in _JSON_EXAMPLES and value:
            try:
                values[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ConfigError(f"'{name}' must be JSON, e.g. {_JSON_EXAMPLES[name]}") from None
        else:
            values[name] = value
    return values


def with_settings(app: App, values: Mapping[str, Any]) -> App:
    """``app`` with ``values`` applied (empty ones reset), checked as the config file is."""
    if "id" in values:
        raise ConfigError("'id' cannot be changed; add a new app and remove this one")
    current: dict[str, Any] = {
        "id": app.id,
        "key": app.key,
        "secret": app.secret,
        "enabled": app.enabled,
        **settings_of(app),
    }
    for name, value in values.items():
        if value == "":
            if name in ("key", "secret"):
                raise ConfigError(f"'{name}' cannot be empty")
            current.pop(name, None)
        else:
            current[name] = value
    return build_app(f"app {app.id!r}", current)
