"""Configuration: server settings and apps, from a TOML file, the environment and CLI flags.

Anything wrong is refused up front with a ``ConfigError`` that names the field and says how to
fix it; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidings import redis_settings
from tidings.apps.app import App, WebhookTarget
from tidings.apps.history import parse_rules
from tidings.apps.origins import normalize_pattern
from tidings.events import HubEventKind

# The documented local development app: used only when no app is configured at all.
DEV_APP_ID = "1000"
DEV_APP_KEY = "tidings-dev-key"
DEV_APP_SECRET = "tidings-dev-secret"

WEBHOOK_EVENT_TYPES = tuple(kind.value for kind in HubEventKind)


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 6001
    # Seconds of inbound silence before we ping; advertised to clients as activity_timeout.
    activity_timeout: int = 120
    pong_timeout: float = 30.0
    # Whole-process capacity: beyond it new sockets get 4100 (pusher-js retries after a pause).
    max_connections: int = -1
    # Per-connection bound on bytes queued in the kernel and transport; a slow consumer past it
    # is closed with 4100 instead of growing our memory.
    send_buffer_limit: int = 1024 * 1024
    max_frame_bytes: int = 256 * 1024
    # HTTP: a request must arrive whole within request_timeout seconds of its first byte (a
    # client sending headers a byte at a time is answered 408 and closed); an idle keep-alive
    # connection is closed after keepalive_timeout; request line plus headers are bounded.
    request_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_header_bytes: int = 16 * 1024
    shutdown_grace: float = 3.0
    data_dir: str = "./data"
    # Webhooks (docs/webhooks.md): events wait up to the window to share one request; vacated
    # and member_removed wait the delay so a quick reconnect cancels them, as on hosted Pusher.
    webhook_batch_window: float = 0.1
    webhook_batch_max: int = 100
    webhook_vacate_delay: float = 3.0
    webhook_timeout: float = 10.0
    webhook_retry_period: float = 300.0
    webhook_backoff_base: float = 1.0
    webhook_backoff_max: float = 60.0
    # Scale-out (docs/cluster.md): with a Redis URL, every node shares state through Redis.
    redis_url: str = ""
    # Or Redis behind Sentinel: the sentinels' "host:port"s and the name of the master they
    # watch; the node follows a failover (hub/redis/sentinel.py).
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = ""
    redis_prefix: str = "tidings"
    # Bound on each Redis round trip, so a Redis outage costs an error, never a hung loop.
    redis_timeout: float = 2.0
    # What a node can read back of a channel's events after its subscription dropped: each
    # channel keeps at most this many, for this long after its last (hub/redis/streams.py).
    redis_recovery_events: int = 1000
    redis_recovery_seconds: float = 10.0
    # A node silent this long is declared dead and its members and counts are removed.
    node_timeout: float = 10.0
    # Processes sharing the port (SO_REUSEPORT); more than one needs redis_url.
    workers: int = 1
    # Serve /metrics (and the probes) on this port of `host` instead of the public port.
    metrics_port: int = 0
    # The debug console (/console): without a token it serves only the documented development
    # app; with one it serves every app, to requests that carry the token.
    console_token: str = field(default="", repr=False)  # a secret: kept out of reprs
    # Apps besides the config file's, changed while tidings runs (tidings.apps.choose): "" is a
    # SQLite file in data_dir, postgresql://... a database shared by a cluster, "none" none.
    apps_database_url: str = ""
    # SQLite's change counter is read this often; PostgreSQL, which notifies changes, is also
    # read in full this often in case a notification was lost.
    apps_poll_interval: float = 0.5
    apps_refresh_interval: float = 30.0
    # TLS (docs in the README): with a certificate and key, the port serves https:// and wss://
    # only; tls_ca names intermediates to send after the certificate. Reloaded on SIGHUP.
    tls_cert: str = ""
    tls_key: str = ""
    tls_key_password: str = ""
    tls_ca: str = ""
    # Per client address (README, "Limits per client address"): open sockets, and new ones per
    # second; over either, 4100 (pusher-js retries after a second). -1: no limit.
    max_connections_per_ip: int = -1
    max_new_connections_per_ip_per_sec: int = -1
    # Addresses/CIDRs of the proxies whose X-Forwarded-For (and, with proxy_protocol, whose
    # PROXY header, then required) names the client; anyone else's is ignored.
    trusted_proxies: tuple[str, ...] = ()
    proxy_protocol: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerSettings = field(default_factory=ServerSettings)
    apps: tuple[App, ...] = ()
    dev_app: bool = False


# What an [[apps]] entry may set: App's fields, less the ones it derives itself.
_APP_HINTS = typing.get_type_hints(App)
_APP_TYPES = {f.name: _APP_HINTS[f.name] for f in dataclasses.fields(App) if f.init}
_SERVER_TYPES = typing.get_type_hints(ServerSettings)
# Set by the sender on every webhook request; a target's own headers may not replace them.
_SIGNED_HEADERS = {"content-type", "x-pusher-key", "x-pusher-signature"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(where: str, name: str, kind: Any, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or say what is wrong."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{where}: '{name}' must be true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: '{name}' must be a number, got {value!r}")
        try:
            number = kind(value) if kind is float else _to_int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: '{name}' must be a number, got {value!r}") from None
        if number < 0 and number != -1:
            raise ConfigError(f"{where}: '{name}' must be >= 0 (or -1 for unlimited)")
        return number
    if kind is str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(f"{where}: '{name}' must be a string, got {value!r}")
        return str(value)
    if kind == tuple[str, ...]:
        # The environment (and a CLI flag) gives one comma-separated string; TOML a list.
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{where}: '{name}' must be a list of strings, got {value!r}")
        return tuple(item.strip() for item in items if item.strip())
    raise ConfigError(f"{where}: '{name}' cannot be set here")


def _to_int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _webhooks(where: str, value: Any) -> tuple[WebhookTarget, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: 'webhooks' must be a list of tables with a 'url'")
    targets = []
    for index, item in enumerate(value):
        at = f"{where}.webhooks[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: each webhook must be a table with a 'url'")
        unknown = set(item) - {"url", "event_types", "filter", "headers"}
        if unknown:
            raise ConfigError(f"{at}: unknown setting(s) {', '.join(sorted(unknown))}")
        url = item.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{at}: 'url' must be an http:// or https:// URL, got {url!r}")
        types = item.get("event_types", list(WEBHOOK_EVENT_TYPES))
        if not isinstance(types, list) or any(t not in WEBHOOK_EVENT_TYPES for t in types):
            raise ConfigError(
                f"{at}: 'event_types' must list some of {', '.join(WEBHOOK_EVENT_TYPES)}"
            )
        if not types:
            raise ConfigError(f"{at}: 'event_types' is empty; list some or leave it out for all")
        flt = item.get("filter", {})
        prefix = flt.get("channel_name_starts_with", "") if isinstance(flt, dict) else None
        if not isinstance(prefix, str) or set(flt) - {"channel_name_starts_with"}:
            raise ConfigError(f"{at}: 'filter' takes only channel_name_starts_with = \"prefix\"")
        headers = item.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError(f"{at}: 'headers' must be a table of strings")
        reserved = {name for name in headers if name.lower() in _SIGNED_HEADERS}
        if reserved:
            raise ConfigError(f"{at}: 'headers' cannot set {', '.join(sorted(reserved))}")
        targets.append(WebhookTarget(url, tuple(types), prefix, tuple(sorted(headers.items()))))
    return tuple(targets)


def _origins(where: str, value: Any) -> tuple[str, ...]:
    patterns = _coerce(where, "allowed_origins", tuple[str, ...], value)
    try:
        return tuple(normalize_pattern(item) for item in patterns)
    except ValueError as error:
        raise ConfigError(f"{where}: 'allowed_origins': {error}") from None


def build_app(where: str, values: Mapping[str, Any]) -> App:
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name == "webhooks":
            kwargs[name] = _webhooks(where, value)
        elif name == "history":
            try:
                kwargs[name] = parse_rules(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        elif name == "allowed_origins":
            kwargs[name] = _origins(where, value)
        elif name in _APP_TYPES:
            kwargs[name] = _coerce(where, name, _APP_TYPES[name], value)
        else:
            known = ", ".join(sorted(_APP_TYPES))
            raise ConfigError(f"{where}: unknown app setting '{name}' (known: {known})")
    for required in ("id", "key", "secret"):
        if not kwargs.get(required):
            raise ConfigError(f"{where}: '{required}' is required")
    return App(**kwargs)


def _server(where: str, values: Mapping[str, Any], base: ServerSettings) -> ServerSettings:
    changes = {}
    for name, value in values.items():
        if name not in _SERVER_TYPES:
            known = ", ".join(sorted(_SERVER_TYPES))
            raise ConfigError(f"{where}: unknown server setting '{name}' (known: {known})")
        changes[name] = _coerce(where, name, _SERVER_TYPES[name], value)
    return dataclasses.replace(base, **changes)


def _env_app(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The default app from TIDINGS_APP_* (or the seed's PUSHER_* names), if any is set."""
    values: dict[str, Any] = {}
    aliases = {"id": "PUSHER_APP_ID", "key": "PUSHER_KEY", "secret": "PUSHER_SECRET"}
    for name, alias in aliases.items():
        value = env.get(f"TIDINGS_APP_{name.upper()}") or env.get(alias)
        if value:
            values[name] = value
    for name in _APP_TYPES:
        variable = f"TIDINGS_APP_{name.upper()}"
        if name not in aliases and name not in ("webhooks", "history") and variable in env:
            values[name] = env[variable]
    if env.get("TIDINGS_APP_WEBHOOK_URL"):
        values["webhooks"] = [{"url": env["TIDINGS_APP_WEBHOOK_URL"]}]
    return values or None


def _toml_problem(text: str, exc: tomllib.TOMLDecodeError) -> str:
    """tomllib gives a line number but not the key (a key set twice is only "Cannot overwrite
    a value"), so quote the offending line: that names the field for the reader."""
    match = re.search(r"at line (\d+)", str(exc))
    lines = text.splitlines()
    if match is None or not 0 < int(match.group(1)) <= len(lines):
        return str(exc)
    line = lines[int(match.group(1)) - 1].strip()
    hint = "; is a key set twice?" if str(exc).startswith("Cannot overwrite") else ""
    return f"{exc}: {line!r}{hint}"


def load(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read the config file (if any), then the environment, then CLI overrides."""
    env = env if env is not None else {}
    document: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file; pass --config with a TOML file") from None
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({_toml_problem(text, exc)})") from None
    unknown = set(document) - {"server", "apps"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; use [server] and [[apps]]"
        )

    server = _server(f"{path} [server]", document.get("server", {}), ServerSettings())
    env_server = {
        name: env[f"TIDINGS_{name.upper()}"]
        for name in _SERVER_TYPES
        if f"TIDINGS_{name.upper()}" in env
    }
    server = _server("environment", env_server, server)
    server = _server("command line", dict(overrides or {}), server)

    raw_apps = document.get("apps", [])
    if not isinstance(raw_apps, list):
        raise ConfigError(f"{path}: 'apps' must be an array of tables: [[apps]]")
    apps = [build_app(f"{path} [[apps]] #{i + 1}", values) for i, values in enumerate(raw_apps)]
    env_values = _env_app(env)
    dev_app = False
    if env_values is not None:
        env_values.setdefault("id", DEV_APP_ID if not apps else "")
        if "key" not in env_values or "secret" not in env_values:
            raise ConfigError(
                "environment: set both TIDINGS_APP_KEY and TIDINGS_APP_SECRET "
                "(or PUSHER_KEY and PUSHER_SECRET) for the default app"
            )
        apps.append(build_app("environment (TIDINGS_APP_*)", env_values))
    if not apps:
        apps.append(App(id=DEV_APP_ID, key=DEV_APP_KEY, secret=DEV_APP_SECRET))
        dev_app = True

    for attribute in ("id", "key"):
        seen: set[str] = set()
        for app in apps:
            value = getattr(app, attribute)
            if value in seen:
                raise ConfigError(f"two apps have the same {attribute} {value!r}; make it unique")
            seen.add(value)
    _check_cluster(server)
    _check_tls(server)
    _check_proxies(server)
    return Config(server=server, apps=tuple(apps), dev_app=dev_app)


def _check_cluster(server: ServerSettings) -> None:
    if server.workers < 1:
        raise ConfigError("'workers' must be 1 or more")
    redis_problem = redis_settings.problem(server)
    if redis_problem:
        raise ConfigError(redis_problem)
    if server.workers > 1 and not (server.redis_url or server.redis_sentinels):
        raise ConfigError(
            f"--workers {server.workers} needs shared state: pass --redis-url redis://host:6379 "
            "(or set TIDINGS_REDIS_URL, or [server] redis_url, or redis_sentinels)"
        )
    if server.metrics_port and server.metrics_port == server.port:
        raise ConfigError(
            f"'metrics_port' {server.metrics_port} is the public port; pick another, or leave it "
            "out to serve /metrics on the public port"
        )
    if server.node_timeout < 1:
        raise ConfigError("'node_timeout' must be at least 1 second")


def _check_tls(server: ServerSettings) -> None:
    if bool(server.tls_cert) != bool(server.tls_key):
        given, missing = ("tls_cert", "tls_key") if server.tls_cert else ("tls_key", "tls_cert")
        raise ConfigError(
            f"'{given}' is set but '{missing}' is not: TLS needs both the certificate and its "
            f"private key (--tls-cert and --tls-key)"
        )


def _check_proxies(server: ServerSettings) -> None:
    for entry in server.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"'trusted_proxies': {entry!r} is not an address or CIDR "
                '(like "10.0.0.0/8", "127.0.0.1" or "fd00::/8")'
            ) from None
    if server.proxy_protocol and not server.trusted_proxies:
        raise ConfigError(
            "'proxy_protocol' needs 'trusted_proxies': list the addresses of the proxies "
            "that send the PROXY header"
        )
    if server.proxy_protocol and server.tls_cert:
        raise ConfigError(
            "'proxy_protocol' with TLS is not supported: let the proxy terminate TLS "
            "(and send the PROXY header on the plain connection), or drop one of them"
        )
