from __future__ import annotations

from pathlib import Path

import pytest

from tidings import config
from tidings.config import ConfigError, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tidings.toml"
    path.write_text(text)
    return path


def test_nothing_configured_gives_the_documented_dev_app() -> None:
    cfg = load(None, {})
    assert cfg.dev_app
    (app,) = cfg.apps
    assert (app.id, app.key, app.secret) == (
        config.DEV_APP_ID,
        config.DEV_APP_KEY,
        config.DEV_APP_SECRET,
    )
    assert app.id.isdigit()  # the Python SDK rejects non-numeric app ids
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 6001)


def test_seed_env_names_configure_the_default_app() -> None:
    cfg = load(
        None,
        {
            "PUSHER_APP_ID": "77",
            "PUSHER_KEY": "k",
            "PUSHER_SECRET": "s",
            "TIDINGS_APP_ENABLE_CLIENT_EVENTS": "true",
            "TIDINGS_APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL": "5",
        },
    )
    (app,) = cfg.apps
    assert (app.id, app.key, app.secret) == ("77", "k", "s")
    assert app.enable_client_events and app.max_presence_members_per_channel == 5
    assert not cfg.dev_app


def test_tidings_names_win_over_pusher_names() -> None:
    cfg = load(None, {"TIDINGS_APP_KEY": "a", "PUSHER_KEY": "b", "PUSHER_SECRET": "s"})
    assert cfg.apps[0].key == "a"


def test_toml_apps_server_settings_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
port = 7000
activity_timeout = 30

[[apps]]
id = "1"
key = "k1"
secret = "s1"
max_connections = 10
webhooks = [{url = "http://127.0.0.1:9/hook", event_types = ["channel_occupied"]}]

[[apps]]
id = 2
key = "k2"
secret = "s2"
""",
    )
    cfg = load(path, {"TIDINGS_ACTIVITY_TIMEOUT": "60"}, {"port": 7001})
    assert cfg.server.port == 7001 and cfg.server.activity_timeout == 60
    assert [a.id for a in cfg.apps] == ["1", "2"]
    assert cfg.apps[0].max_connections == 10
    assert cfg.apps[0].webhooks[0].event_types == ("channel_occupied",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[server\nport=1", "not valid TOML"),
        ("[server]\nport = 1\nport = 2", "not valid TOML"),
        ("[server]\nprot = 1", "unknown server setting 'prot'"),
        (
            "[[apps]]\nid='1'\nkey='k'\nsecret='s'\nmax_connections='lots'",
            "'max_connections' must be a number",
        ),
        (
            "[[apps]]\nid='1'\nkey='k'\nsecret='s'\nenable_client_events='maybe'",
            "'enable_client_events' must be true or false",
        ),
        ("[[apps]]\nid='1'\nkey='k'\nsecret='s'\ncolour='red'", "unknown app setting 'colour'"),
        ("[[apps]]\nid='1'\nkey='k'", "'secret' is required"),
        (
            "[[apps]]\nid='1'\nkey='a'\nsecret='s'\n[[apps]]\nid='1'\nkey='b'\nsecret='s'",
            "same id '1'",
        ),
        ("[[apps]]\nid='1'\nkey='k'\nsecret='s'\nwebhooks=[{url='ftp://x'}]", "'url' must be"),
        (
            "[[apps]]\nid='1'\nkey='k'\nsecret='s'\nwebhooks=[{url='http://x', event_types=['x']}]",
            "'event_types'",
        ),
        ("[apps]\nid='1'", "array of tables"),
        ("[database]\nurl='x'", "unknown section"),
    ],
)
def test_bad_config_is_refused_naming_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), {})
    assert fragment in str(caught.value)


def test_missing_file_and_half_configured_env() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load("/nonexistent/tidings.toml", {})
    with pytest.raises(ConfigError, match="set both"):
        load(None, {"PUSHER_KEY": "k"})


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TIDINGS_TRUSTED_PROXIES": "10.0.0.0/8, lb.internal"}, "'lb.internal' is not an address"),
        ({"TIDINGS_PROXY_PROTOCOL": "true"}, "'proxy_protocol' needs 'trusted_proxies'"),
        (
            {
                "TIDINGS_PROXY_PROTOCOL": "1",
                "TIDINGS_TRUSTED_PROXIES": "10.0.0.1",
                "TIDINGS_TLS_CERT": "c.pem",
                "TIDINGS_TLS_KEY": "k.pem",
            },
            "let the proxy terminate TLS",
        ),
        ({"TIDINGS_TLS_KEY": "k.pem"}, "'tls_key' is set but 'tls_cert' is not"),
    ],
)
def test_edge_settings_that_cannot_work_are_refused(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load(None, env)


def test_client_address_settings_from_the_environment() -> None:
    server = load(
        None,
        {
            "TIDINGS_MAX_CONNECTIONS_PER_IP": "200",
            "TIDINGS_MAX_NEW_CONNECTIONS_PER_IP_PER_SEC": "20",
            "TIDINGS_TRUSTED_PROXIES": "10.0.0.0/8,fd00::/8",
            "TIDINGS_PROXY_PROTOCOL": "yes",
        },
    ).server
    assert (server.max_connections_per_ip, server.max_new_connections_per_ip_per_sec) == (200, 20)
    assert server.trusted_proxies == ("10.0.0.0/8", "fd00::/8")
    assert server.proxy_protocol
