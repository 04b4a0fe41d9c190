"""``tidings apps`` as an operator uses it: what it prints, what it refuses (exit 2, naming the
setting or the app), and ``tidings serve`` refusing to start without its app database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.apps import printed, tidings_apps
from tests.support.postgres_server import PostgresServer
from tests.support.server import ROOT, free_port

CONFIG_APP = '[[apps]]\nid = "4242"\nkey = "config-key"\nsecret = "config-secret"\n'


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment `tidings serve` would read: its data directory."""
    return {"TIDINGS_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str, config: Path | None = None) -> str:
    result = tidings_apps(*args, config=config, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(env: dict[str, str], *args: str, config: Path | None = None) -> str:
    result = tidings_apps(*args, config=config, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    return result.stderr


def test_add_prints_the_credentials_once_and_nothing_else_shows_the_secret(
    env: dict[str, str],
) -> None:
    output = run(env, "add", "--id", "501", "--key", "shop-key", "max_connections=50")
    assert printed(output, "id") == "501" and printed(output, "key") == "shop-key"
    secret = printed(output, "secret")
    generated = run(env, "add")
    assert printed(generated, "id").isdigit()
    assert printed(generated, "secret") != secret

    listed = json.loads(run(env, "list", "--json"))
    assert {"id": "501", "key": "shop-key", "enabled": True, "source": "database"} in listed
    for shown in (run(env, "list"), run(env, "show", "501"), json.dumps(listed)):
        assert secret not in shown
    assert json.loads(run(env, "show", "501", "--json")) == {
        "id": "501",
        "key": "shop-key",
        "enabled": True,
        "max_connections": 50,
    }


def test_set_disable_rotate_and_remove_change_what_show_says(env: dict[str, str]) -> None:
    secret = printed(run(env, "add", "--id", "502"), "secret")
    run(env, "set", "502", "enable_client_events=true", 'webhooks=[{"url": "https://h.test/"}]')
    run(env, "disable", "502")
    shown = json.loads(run(env, "show", "502", "--json"))
    assert shown["enabled"] is False and shown["enable_client_events"] is True
    assert shown["webhooks"] == [{"url": "https://h.test/"}]
    rotated = printed(run(env, "rotate-secret", "502"), "secret")
    assert rotated != secret
    run(env, "set", "502", "enable_client_events=")  # back to the default
    assert "enable_client_events" not in json.loads(run(env, "show", "502", "--json"))
    run(env, "remove", "502")
    assert "No apps yet" in run(env, "list")


@pytest.mark.parametrize("command", ["show", "set", "disable", "enable", "rotate-secret", "remove"])
def test_an_unknown_id_is_refused_by_name(env: dict[str, str], command: str) -> None:
    extra = ["max_connections=1"] if command == "set" else []
    assert "no app '999'" in refused(env, command, "999", *extra)


def test_taken_ids_and_keys_are_refused_by_name(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(CONFIG_APP)
    run(env, "add", "--id", "503", "--key", "taken", config=config)
    assert "key 'taken'" in refused(env, "add", "--key", "taken", config=config)
    assert "id '503'" in refused(env, "add", "--id", "503", config=config)
    assert "key 'config-key'" in refused(env, "add", "--key", "config-key", config=config)
    run(env, "add", "--id", "504", config=config)
    assert "key 'taken'" in refused(env, "set", "504", "key=taken", config=config)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (["max_connections=lots"], "'max_connections' must be a number"),
        (["enable_client_events=maybe"], "'enable_client_events' must be true or false"),
        (["max_conections=5"], "unknown app setting 'max_conections'"),
        (["webhooks=[{"], "'webhooks' must be JSON"),
        (['webhooks=[{"url": "ftp://x"}]'], "'url' must be an http:// or https:// URL"),
        (["max_connections"], "NAME=VALUE"),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(
    env: dict[str, str], settings: list[str], named: str
) -> None:
    assert named in refused(env, "add", *settings)
    run(env, "add", "--id", "505")
    assert named in refused(env, "set", "505", *settings)
    assert "No apps" not in run(env, "list")  # the refused add left nothing behind


def test_the_config_files_apps_are_listed_but_read_only(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(CONFIG_APP)
    assert "config" in run(env, "list", config=config)
    assert "config-secret" not in run(env, "list", config=config)
    assert "edit it there" in refused(env, "disable", "4242", config=config)


def test_without_an_app_database_there_is_nothing_to_change(env: dict[str, str]) -> None:
    stderr = refused(env | {"TIDINGS_APPS_DATABASE_URL": "none"}, "list")
    assert "'apps_database_url' is none" in stderr


def test_a_malformed_database_url_is_named(env: dict[str, str]) -> None:
    stderr = refused(env | {"TIDINGS_APPS_DATABASE_URL": "mysql://db/apps"}, "list")
    assert "'apps_database_url' (TIDINGS_APPS_DATABASE_URL) must be postgresql://" in stderr


def unreachable_postgres() -> str:
    return f"postgresql://tidings:hunter2@127.0.0.1:{free_port()}/apps"


def test_an_unreachable_database_is_reported_without_its_password(env: dict[str, str]) -> None:
    result = tidings_apps("list", env=env | {"TIDINGS_APPS_DATABASE_URL": unreachable_postgres()})
    assert result.returncode == 1
    assert "cannot reach the app database postgresql://tidings@127.0.0.1" in result.stderr
    assert "hunter2" not in result.stderr


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    return subprocess.run(
        [sys.executable, "-m", "tidings", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=clean | env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_serve_does_not_start_without_its_database(env: dict[str, str]) -> None:
    result = serve(env | {"TIDINGS_APPS_DATABASE_URL": unreachable_postgres()})
    assert result.returncode == 1
    assert "cannot reach the app database" in result.stderr
    assert "TIDINGS_APPS_DATABASE_URL" in result.stderr


def test_serve_does_not_start_with_an_unusable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = serve({"TIDINGS_DATA_DIR": str(blocker / "data")})
    assert result.returncode == 1
    assert "cannot use the app database" in result.stderr and "data_dir" in result.stderr


def test_a_database_user_without_privileges_is_told_what_it_needs(
    env: dict[str, str], postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database()
    role = url.rsplit("/", 1)[1] + "_reader"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")  # PostgreSQL 15: no CREATE on public
    restricted = url.replace("postgres@", f"{role}@")
    result = serve(env | {"TIDINGS_APPS_DATABASE_URL": restricted})
    assert result.returncode == 1
    assert "refused tidings" in result.stderr and "permission denied" in result.stderr
