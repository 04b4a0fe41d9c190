"""Pick the driver from the config: memory by default, Redis when a URL is given."""

from __future__ import annotations

from tidings.config import ConfigError, ServerSettings
from tidings.events import EventBus
from tidings.hub.base import Adapter, departure_ttl
from tidings.hub.memory import MemoryAdapter
from tidings.ratelimit import MemoryRateLimiter, RateLimiter


def shared_state(settings: ServerSettings, bus: EventBus) -> tuple[Adapter, RateLimiter]:
    if not (settings.redis_url or settings.redis_sentinels):
        ttl = departure_ttl(settings.webhook_vacate_delay)
        return MemoryAdapter(bus, departure_ttl=ttl), MemoryRateLimiter()
    try:  # redis-py is the optional 'redis' extra
        from tidings.hub.redis import RedisAdapter
        from tidings.ratelimit.redis import RedisRateLimiter
    except ImportError:
        raise ConfigError(
            "redis_url needs the Redis client: pip install 'tidings[redis]'"
        ) from None
    adapter = RedisAdapter(bus, settings)
    return adapter, RedisRateLimiter(adapter.client, settings.redis_prefix)
