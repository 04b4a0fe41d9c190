"""``history = [...]`` in an [[apps]] entry: read into rules, or refused saying how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.config import ConfigError, load

APP = "[[apps]]\nid = '1'\nkey = 'k'\nsecret = 's'\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tidings.toml"
    path.write_text(text)
    return path


def test_history_rules_are_read_in_order_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        APP + 'history = [{ channels = "agent-*", max_events = 50, ttl = 60 },'
        ' { channels = "private-log-*" }]\n',
    )
    (app,) = load(path, {}).apps
    first, second = app.history
    assert (first.channels, first.max_events, first.ttl) == ("agent-*", 50, 60.0)
    assert (second.max_events, second.ttl) == (500, 3600.0)
    assert app.history_rule("agent-42") is first
    assert app.history_rule("private-log-x") is second
    assert app.history_rule("news") is None


def test_no_history_by_default() -> None:
    (app,) = load(None, {}).apps
    assert app.history == ()


@pytest.mark.parametrize(
    ("history", "fragment"),
    [
        ('"agent-*"', "'history' must be a list of tables"),
        ('["agent-*"]', "history[0]: each entry must be a table"),
        ("[{ max_events = 5 }]", "'channels' must be a glob"),
        ('[{ channels = "a-*", max_events = 0 }]', "'max_events' must be a whole number"),
        ('[{ channels = "a-*", max_events = 1.5 }]', "'max_events' must be a whole number"),
        ('[{ channels = "a-*", ttl = -1 }]', "'ttl' must be a number of seconds above 0"),
        ('[{ channels = "a-*", ttl = "1h" }]', "'ttl' must be a number of seconds above 0"),
        ('[{ channels = "a-*", size = 3 }]', "unknown setting(s) size"),
    ],
)
def test_bad_history_is_refused_with_the_field_and_a_fix(
    tmp_path: Path, history: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(write(tmp_path, APP + f"history = {history}\n"), {})
    assert fragment in str(refused.value)
    assert "[[apps]] #1" in str(refused.value)
