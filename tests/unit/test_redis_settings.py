"""The Redis settings' own checks (redis_settings.py): a Redis Cluster URL and its seeds."""

from __future__ import annotations

import pytest

from tidings.config import ConfigError, load
from tidings.redis_settings import cluster_seeds


def test_a_cluster_url_names_its_seed_nodes() -> None:
    url = "redis+cluster://10.0.0.5:7000, 10.0.0.6:7001,[fd00::7]:7002/0"
    assert cluster_seeds(url) == [("10.0.0.5", 7000), ("10.0.0.6", 7001), ("fd00::7", 7002)]
    server = load(None, {"TIDINGS_REDIS_URL": "rediss+cluster://h:7000"}).server
    assert server.redis_url == "rediss+cluster://h:7000"


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"TIDINGS_REDIS_URL": "redis+cluster://h"}, "the cluster seed 'h' is not host:port"),
        ({"TIDINGS_REDIS_URL": "redis+cluster://"}, "the cluster seed '(empty)'"),
        ({"TIDINGS_REDIS_URL": "redis+cluster://u:p@h:7000"}, "cannot carry a user or password"),
        ({"TIDINGS_REDIS_URL": "cluster://h:7000"}, "redis+cluster://"),
        ({"TIDINGS_REDIS_PREFIX": "my{app}"}, "cannot hold { or }"),
        ({"TIDINGS_REDIS_RECOVERY_EVENTS": "0"}, "'redis_recovery_events' must be 1 or more"),
    ],
)
def test_bad_redis_settings_are_refused_with_what_to_fix(
    settings: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=None) as refused:
        load(None, settings)
    assert fragment in str(refused.value)
