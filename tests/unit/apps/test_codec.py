"""Apps as rows, and the NAME=VALUE settings of ``tidings apps``."""

from __future__ import annotations

import pytest

from tidings.apps import App
from tidings.apps.codec import Row, assignments, settings_of, with_settings
from tidings.config import ConfigError

APP = App(id="1", key="k", secret="s", max_connections=5)


def test_a_row_keeps_only_what_differs_from_the_defaults() -> None:
    assert settings_of(APP) == {"max_connections": 5}
    assert Row.of(APP).app() == APP


def test_a_row_is_held_to_the_config_files_rules() -> None:
    row = Row("1", "k", "s", True, '{"max_conections": 5}')
    with pytest.raises(ConfigError, match="app '1' in the app database: unknown app setting"):
        row.app()
    with pytest.raises(ConfigError, match="not valid JSON"):
        Row("1", "k", "s", True, "{").app()


def test_settings_from_the_command_line() -> None:
    values = assignments(["max_connections=10", "enable_client_events=true", "cache_ttl="])
    assert values == {"max_connections": "10", "enable_client_events": "true", "cache_ttl": ""}
    webhooks = assignments(['webhooks=[{"url": "https://example.test/hook"}]'])
    assert webhooks == {"webhooks": [{"url": "https://example.test/hook"}]}
    history = assignments(['history=[{"channels": "agent-*", "max_events": 50}]'])
    assert history == {"history": [{"channels": "agent-*", "max_events": 50}]}


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (["max_connections"], "NAME=VALUE"),
        (["=5"], "NAME=VALUE"),
        (["webhooks=[oops"], "'webhooks' must be JSON"),
        (["history=agent-*"], "'history' must be JSON"),
    ],
)
def test_malformed_settings_are_named(words: list[str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        assignments(words)


def test_settings_change_and_reset_an_app() -> None:
    changed = with_settings(APP, {"max_connections": "", "enable_client_events": "yes"})
    assert changed == App(id="1", key="k", secret="s", enable_client_events=True)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"id": "2"}, "'id' cannot be changed"),
        ({"secret": ""}, "'secret' cannot be empty"),
        ({"max_connections": "many"}, "'max_connections' must be a number"),
        ({"colour": "red"}, "unknown app setting 'colour'"),
    ],
)
def test_invalid_changes_are_refused_naming_the_setting(
    values: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        with_settings(APP, values)
