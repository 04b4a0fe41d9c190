"""The Redis settings' own rules: one Redis, a Redis Cluster or Redis behind Sentinel, each
checked at start-up with a message that says what to fix (``config`` raises it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.config import ServerSettings

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
SCHEMES = ("redis://", "rediss://", "unix://", *CLUSTER_SCHEMES)


def address(entry: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a (host, port) pair; ValueError if malformed."""
    host, sep, port = entry.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(entry)
    return host, int(port)


def cluster_seeds(url: str) -> list[tuple[str, int]]:
    """The seed nodes of ``redis+cluster://host:port[,host:port...]``; ValueError names the
    first one that is not host:port."""
    scheme = next(s for s in CLUSTER_SCHEMES if url.startswith(s))
    rest = url[len(scheme) :].split("/", 1)[0].split("?", 1)[0]
    return [address(entry.strip()) for entry in rest.split(",")]


def problem(server: ServerSettings) -> str | None:
    """What is wrong with the Redis settings, worded for whoever fixes it; None if nothing."""
    url, sentinels, master = server.redis_url, server.redis_sentinels, server.redis_sentinel_master
    if url and not url.startswith(SCHEMES):
        return (
            "'redis_url' must start with redis://, rediss://, unix:// or, for a Redis Cluster, "
            f"redis+cluster://, got {url!r}"
        )
    if url.startswith(CLUSTER_SCHEMES):
        if "@" in url.split("/", 3)[2]:
            return (
                "'redis_url': a redis+cluster:// URL cannot carry a user or password (not "
                "supported yet); give the nodes' host:port only"
            )
        try:
            cluster_seeds(url)
        except ValueError as error:
            return (
                f"'redis_url': the cluster seed {str(error) or '(empty)'!r} is not host:port "
                "(for example redis+cluster://10.0.0.5:7000,10.0.0.6:7000)"
            )
    if "{" in server.redis_prefix or "}" in server.redis_prefix:
        return "'redis_prefix' cannot hold { or }: Redis Cluster reads them as a hash tag"
    if sentinels and url:
        return (
            "set either 'redis_url' (one Redis or a Redis Cluster) or 'redis_sentinels' "
            "(Redis behind Sentinel), not both"
        )
    if sentinels and not master:
        return (
            "'redis_sentinels' needs the name of the master they watch: set "
            'redis_sentinel_master = "mymaster" (or TIDINGS_REDIS_SENTINEL_MASTER)'
        )
    if master and not sentinels:
        return (
            "'redis_sentinel_master' needs the sentinels to ask: set "
            'redis_sentinels = ["host:26379", ...] (or TIDINGS_REDIS_SENTINELS=host:26379,...)'
        )
    for entry in sentinels:
        try:
            address(entry)
        except ValueError:
            return f"'redis_sentinels': {entry!r} is not host:port (for example 10.0.0.5:26379)"
    if server.redis_recovery_events < 1 or server.redis_recovery_seconds <= 0:
        return (
            "'redis_recovery_events' must be 1 or more and 'redis_recovery_seconds' above 0: "
            "they bound what a node can recover after its subscription drops"
        )
    return None
