"""Demo settings from the environment: the seed guide's ``PUSHER_*`` names plus where tidings is.

Only ``PublicConfig`` (key, cluster, websocket host and port) ever reaches the browser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET", "PUSHER_CLUSTER")
NODE_MODULES_VARIABLE = "TIDINGS_DEMO_NODE_MODULES"
PUSHER_JS = Path("pusher-js/dist/web/pusher.min.js")


class DemoConfigError(Exception):
    """Missing or malformed demo configuration, worded for the person who has to fix it."""


@dataclass(frozen=True, slots=True)
class PublicConfig:
    """What the browser may know: never the secret, never the app id."""

    key: str
    cluster: str
    ws_host: str
    ws_port: int

    def as_pusher_js(self) -> dict[str, object]:
        return {
            "key": self.key,
            "cluster": self.cluster,
            "wsHost": self.ws_host,
            "wsPort": self.ws_port,
        }


@dataclass(frozen=True, slots=True)
class DemoConfig:
    app_id: str
    key: str
    secret: str
    cluster: str
    # Where the backend's SDK reaches tidings' HTTP API.
    tidings_host: str
    tidings_port: int
    # Where browsers open the websocket; differs from the above behind a proxy.
    ws_host: str
    ws_port: int
    # Seconds before a trigger gives up, so a dead tidings gives a 500 instead of a hang.
    sdk_timeout: float = 5.0

    @property
    def public(self) -> PublicConfig:
        return PublicConfig(self.key, self.cluster, self.ws_host, self.ws_port)


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise DemoConfigError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise DemoConfigError(f"{name} must be between 1 and 65535, got {port}")
    return port


def load(env: Mapping[str, str]) -> DemoConfig:
    """Read PUSHER_* (all four required) and TIDINGS_HOST/PORT, TIDINGS_WS_HOST/PORT."""
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise DemoConfigError(
            f"missing environment variable(s) {', '.join(missing)}; set all of "
            f"{', '.join(REQUIRED)} (or none of them to use the local development app)"
        )
    host = env.get("TIDINGS_HOST") or "127.0.0.1"
    port = _port(env, "TIDINGS_PORT", 6001)
    return DemoConfig(
        app_id=env["PUSHER_APP_ID"],
        key=env["PUSHER_KEY"],
        secret=env["PUSHER_SECRET"],
        cluster=env["PUSHER_CLUSTER"],
        tidings_host=host,
        tidings_port=port,
        ws_host=env.get("TIDINGS_WS_HOST") or host,
        ws_port=_port(env, "TIDINGS_WS_PORT", port),
    )


def find_pusher_js(env: Mapping[str, str] | None = None) -> Path:
    """The real pusher-js bundle from npm: $TIDINGS_DEMO_NODE_MODULES, else a node_modules above."""
    env = os.environ if env is None else env
    if env.get(NODE_MODULES_VARIABLE):
        candidates = [Path(env[NODE_MODULES_VARIABLE])]
    else:
        # An editable install keeps this file inside the checkout, next to node_modules.
        here = Path(__file__).resolve().parent
        candidates = [p / "node_modules" for p in (here, *here.parents, Path.cwd())]
    for node_modules in candidates:
        bundle = node_modules / PUSHER_JS
        if bundle.is_file():
            return bundle
    where = env.get(NODE_MODULES_VARIABLE) or "the repository"
    raise DemoConfigError(
        f"pusher-js not found ({PUSHER_JS} under {where}); run `npm ci` in the repository "
        f"checkout, or point {NODE_MODULES_VARIABLE} at a node_modules directory that has it"
    )
