from __future__ import annotations

from pathlib import Path

from tidings.apps import App, StaticAppStore
from tidings.config import load
from tidings.server.console.access import ConsoleAccess, presented_token

OWN = App(id="7", key="own-key", secret="own-secret")  # test fixture credential


def test_with_no_configuration_the_console_serves_the_development_app() -> None:
    apps = StaticAppStore(load(env={}).apps)
    access = ConsoleAccess("", apps)

    assert access.refusal(None) is None
    assert [app.id for app in access.apps()] == ["1000"]
    assert access.app("1000") is not None


def test_an_own_app_and_no_token_means_no_console() -> None:
    access = ConsoleAccess("", StaticAppStore([OWN]))

    assert access.refusal(None) == 404
    assert access.refusal("anything") == 404
    assert access.apps() == []
    assert access.app("7") is None


def test_without_a_token_other_apps_stay_hidden_beside_the_development_app() -> None:
    dev = load(env={}).apps[0]
    access = ConsoleAccess("", StaticAppStore([dev, OWN]))

    assert [app.id for app in access.apps()] == ["1000"]
    assert access.app("7") is None


def test_a_token_opens_every_app_to_whoever_presents_it() -> None:
    access = ConsoleAccess("s3cret", StaticAppStore([OWN]))

    assert access.refusal(None) == 401
    assert access.refusal("") == 401
    assert access.refusal("s3cre") == 401
    assert access.refusal("s3cret!") == 401
    assert access.refusal("s3cret") is None
    assert access.app("7") == OWN


def test_the_token_comes_from_the_header_first_then_the_query() -> None:
    header = {"x-tidings-console-token": "from-header"}
    assert presented_token(header, {"token": "from-query"}) == "from-header"
    assert presented_token({}, {"token": "from-query"}) == "from-query"
    assert presented_token({}, {}) is None


def test_the_token_is_read_from_config_and_environment_and_kept_out_of_reprs() -> None:
    config = load(env={"TIDINGS_CONSOLE_TOKEN": "from-env"})

    assert config.server.console_token == "from-env"
    assert "from-env" not in repr(config)


def test_the_token_can_be_set_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "tidings.toml"
    path.write_text('[server]\nconsole_token = "from-file"\n')

    assert load(path, env={}).server.console_token == "from-file"
