"""``allowed_origins`` patterns: exact origins, ``*.`` subdomains, ``*``; default ports implied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.apps.origins import normalize_pattern, origin_allowed
from tidings.config import ConfigError, load

PATTERNS = tuple(
    normalize_pattern(p)
    for p in ("https://app.example.com", "https://*.example.com", "HTTP://Localhost:8080/")
)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://app.example.com:443", True),  # the default port, spelled out
        ("https://eu.shop.example.com", True),  # any depth of subdomain
        ("https://example.com", False),  # *. is for subdomains, not the domain itself
        ("http://app.example.com", False),  # another scheme is another origin
        ("https://app.example.com:8443", False),
        ("https://app.example.com.evil.test", False),
        ("https://evilexample.com", False),
        ("http://localhost:8080", True),
        ("http://localhost", False),
        ("null", False),  # sandboxed frames and file:// pages
        ("not an origin", False),
        (None, True),  # no Origin header: not a browser
    ],
)
def test_origins_against_the_patterns(origin: str | None, allowed: bool) -> None:
    assert origin_allowed(PATTERNS, origin) is allowed


def test_no_patterns_or_a_star_allow_anything() -> None:
    assert origin_allowed((), "https://anyone.test")
    assert origin_allowed(("*",), "null")


@pytest.mark.parametrize(
    "pattern",
    ["example.com", "*.example.com", "https://a.*.com", "https://x.com/app", "https://*."],
)
def test_a_pattern_that_is_not_an_origin_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        normalize_pattern(pattern)


def test_config_file_and_environment_set_allowed_origins(tmp_path: Path) -> None:
    path = tmp_path / "tidings.toml"
    path.write_text(
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n'
        'allowed_origins = ["https://app.example.com", "https://*.example.com:8443"]\n'
    )
    (app,) = load(path, {}).apps
    assert app.allowed_origins == ("https://app.example.com", "https://*.example.com:8443")
    env = {"TIDINGS_APP_KEY": "k", "TIDINGS_APP_SECRET": "s"}
    (env_app,) = load(
        None, {**env, "TIDINGS_APP_ALLOWED_ORIGINS": "https://a.test, https://b.test"}
    ).apps
    assert env_app.allowed_origins == ("https://a.test", "https://b.test")


def test_a_bad_pattern_in_the_config_names_the_app_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "tidings.toml"
    path.write_text('[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nallowed_origins = ["app.test"]\n')
    with pytest.raises(ConfigError, match=r"\[\[apps\]\] #1: 'allowed_origins': 'app.test' is"):
        load(path, {})
    path.write_text('[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nallowed_origins = "x"\n')
    with pytest.raises(ConfigError, match="is not an origin"):
        load(path, {})
