"""``redis_sentinels`` and ``redis_sentinel_master``: TOML, environment, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.config import ConfigError, load
from tidings.redis_settings import address as sentinel_address


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tidings.toml"
    path.write_text(text)
    return path


def test_sentinels_from_toml_and_from_a_comma_separated_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nredis_sentinels = ["10.0.0.5:26379", "[::1]:26380"]\n'
        'redis_sentinel_master = "mymaster"\nworkers = 2\n',
    )
    server = load(path, {}).server
    assert server.redis_sentinels == ("10.0.0.5:26379", "[::1]:26380")
    assert server.redis_sentinel_master == "mymaster"
    assert server.workers == 2  # sentinels are shared state too
    assert [sentinel_address(s) for s in server.redis_sentinels] == [
        ("10.0.0.5", 26379),
        ("::1", 26380),
    ]

    env = {"TIDINGS_REDIS_SENTINELS": " a:1, b:2 ,", "TIDINGS_REDIS_SENTINEL_MASTER": "m"}
    server = load(None, env).server
    assert (server.redis_sentinels, server.redis_sentinel_master) == (("a:1", "b:2"), "m")


@pytest.mark.parametrize(
    ("server", "env", "fragment"),
    [
        ('redis_sentinels = ["a:1"]', {}, "needs the name of the master"),
        ('redis_sentinel_master = "m"', {}, "needs the sentinels to ask"),
        ('redis_sentinels = ["a"]\nredis_sentinel_master = "m"', {}, "'a' is not host:port"),
        ('redis_sentinels = ["a:x"]\nredis_sentinel_master = "m"', {}, "'a:x' is not host:port"),
        ('redis_sentinels = [":1"]\nredis_sentinel_master = "m"', {}, "is not host:port"),
        ('redis_sentinels = ["a:70000"]\nredis_sentinel_master = "m"', {}, "is not host:port"),
        (
            'redis_sentinels = "a:1"\nredis_sentinel_master = "m"\nredis_url = "redis://x"',
            {},
            "both",
        ),
        ("redis_sentinels = [1, 2]", {}, "must be a list of strings"),
        ("redis_sentinels = {a = 1}", {}, "must be a list of strings"),
        ("", {"TIDINGS_REDIS_SENTINELS": "a:1"}, "TIDINGS_REDIS_SENTINEL_MASTER"),
    ],
)
def test_half_or_malformed_sentinel_settings_are_refused(
    tmp_path: Path, server: str, env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, f"[server]\n{server}\n"), env)
    assert fragment in str(caught.value)
