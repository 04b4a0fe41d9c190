"""An operator starting ``tidings serve`` with a broken config is told which field is wrong and
gets exit status 2; one configuring the default app through the environment gets a working app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import ROOT, AppSpec, free_port

ONE_APP = '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n'
BROKEN = {
    "bad TOML": ("[server\nport = 7000\n", ["not valid TOML", "line 1"]),
    "key set twice": (
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nkey = "again"\n',
        ['key = "again"', "set twice"],
    ),
    "unknown server setting": ("[server]\nportt = 7000\n", ["'portt'", "unknown server setting"]),
    "unknown app setting": (
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nenable_clients_events = true\n',
        ["'enable_clients_events'", "[[apps]] #1"],
    ),
    "unknown section": ("[servers]\nport = 7000\n", ["servers", "[server]"]),
    "non-numeric limit": (
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nmax_connections = "lots"\n',
        ["'max_connections' must be a number", "'lots'"],
    ),
    "negative timeout": ("[server]\nactivity_timeout = -5\n", ["'activity_timeout'", ">= 0"]),
    "boolean as number": (
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nenable_client_events = 3\n',
        ["'enable_client_events' must be true or false"],
    ),
    "missing secret": ('[[apps]]\nid = "1"\nkey = "k"\n', ["'secret' is required"]),
    "duplicate app id": (
        ONE_APP + '\n[[apps]]\nid = "1"\nkey = "b"\nsecret = "t"\n',
        ["same id '1'"],
    ),
    "bad history entry": (
        ONE_APP + 'history = [{ channels = "agent-*", max_events = 0 }]\n',
        ["[[apps]] #1", "history[0]", "'max_events' must be a whole number"],
    ),
    "duplicate app key": (
        ONE_APP + '\n[[apps]]\nid = "2"\nkey = "k"\nsecret = "t"\n',
        ["same key 'k'"],
    ),
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PUSHER_"))}
    return env | extra


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings", "serve", *args],
        capture_output=True,
        text=True,
        timeout=20,
        env=env or clean_env(),
        cwd=ROOT,
    )


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_config_exits_2_naming_the_field(tmp_path: Path, case: str) -> None:
    text, mentions = BROKEN[case]
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = serve("--config", str(config), "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tidings: configuration error:")
    if not case.startswith("duplicate app"):  # those are about two places at once
        assert str(config) in result.stderr
    for words in mentions:
        assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = serve("--config", str(tmp_path / "nowhere.toml"))
    assert result.returncode == 2
    assert "nowhere.toml: no such file" in result.stderr


def test_key_without_secret_in_environment_exits_2() -> None:
    result = serve(env=clean_env(TIDINGS_APP_KEY="lonely-key"))
    assert result.returncode == 2
    assert "TIDINGS_APP_SECRET" in result.stderr


@dataclass
class EnvServer:
    """A ``tidings serve`` with no config file: its only app comes from the environment."""

    app: AppSpec
    port: int
    host: str = "127.0.0.1"


@contextmanager
def serve_from_env(app: AppSpec, env: dict[str, str]) -> Iterator[EnvServer]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tidings", "serve", "--port", str(port)],
        env=clean_env(**env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "tidings did not become ready"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield EnvServer(app, port)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
        assert process.returncode == 0, output


ENV_STYLES = {
    "TIDINGS_APP_*": {"TIDINGS_APP_ID": "7001", "TIDINGS_APP_KEY": "env-key"},
    "seed PUSHER_*": {"PUSHER_APP_ID": "7001", "PUSHER_KEY": "env-key"},
}


@pytest.mark.parametrize("style", ENV_STYLES, ids=list(ENV_STYLES))
async def test_default_app_from_environment_serves_clients_and_sdk(style: str) -> None:
    names = ENV_STYLES[style]
    secret_name = "TIDINGS_APP_SECRET" if style.startswith("TIDINGS") else "PUSHER_SECRET"
    app = AppSpec(id="7001", key="env-key", secret="env-secret")
    with serve_from_env(app, {**names, secret_name: app.secret}) as server:
        async with await RawClient.connect(server) as client:
            await client.subscribe("private-env", sdk_for(server))
            sdk = sdk_for(server)
            assert sdk.trigger("private-env", "configured", {"by": style}) == {}
            assert json.loads((await client.expect("configured"))["data"]) == {"by": style}
        # The built-in development app is not there once an app is configured.
        refused = await RawClient.connect(server, "tidings-dev-key", handshake=False)
        async with refused:
            assert await refused.close_code() == 4001


async def test_client_events_switched_on_from_environment() -> None:
    app = AppSpec(id="7002", key="env-key", secret="env-secret")
    env = {
        "TIDINGS_APP_ID": app.id,
        "TIDINGS_APP_KEY": app.key,
        "TIDINGS_APP_SECRET": app.secret,
        "TIDINGS_APP_ENABLE_CLIENT_EVENTS": "true",
    }
    with serve_from_env(app, env) as server:
        sdk = sdk_for(server)
        async with (
            await RawClient.connect(server) as typist,
            await RawClient.connect(server) as reader,
        ):
            for client in (typist, reader):
                await client.subscribe("private-chat", sdk)
            await typist.send("client-typing", {"on": True}, channel="private-chat")
            typing = await reader.expect("client-typing", "private-chat")
            assert typing["data"] == {"on": True}
