"""The demo's settings: the guide's PUSHER_* names, and what the browser is allowed to see."""

from __future__ import annotations

import pytest

from tidings_demo.config import DemoConfigError, load

GUIDE_ENV = {
    "PUSHER_APP_ID": "4242",
    "PUSHER_KEY": "test-key",
    "PUSHER_SECRET": "test-secret",
    "PUSHER_CLUSTER": "us2",
}


def test_the_browser_sees_key_cluster_and_websocket_address_only() -> None:
    config = load({**GUIDE_ENV, "TIDINGS_PORT": "7001", "TIDINGS_WS_HOST": "ws.example.test"})

    assert config.public.as_pusher_js() == {
        "key": "test-key",
        "cluster": "us2",
        "wsHost": "ws.example.test",
        "wsPort": 7001,
    }
    assert (config.tidings_host, config.tidings_port) == ("127.0.0.1", 7001)


@pytest.mark.parametrize("missing", sorted(GUIDE_ENV))
def test_each_guide_variable_is_required(missing: str) -> None:
    env = {name: value for name, value in GUIDE_ENV.items() if name != missing}

    with pytest.raises(DemoConfigError, match=f"missing environment variable\\(s\\) {missing};"):
        load(env)


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_a_bad_port_is_named(port: str) -> None:
    with pytest.raises(DemoConfigError, match="TIDINGS_WS_PORT"):
        load({**GUIDE_ENV, "TIDINGS_WS_PORT": port})
