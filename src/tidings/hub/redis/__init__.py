"""The Redis driver: many tidings processes and machines behave as one server.

``adapter`` implements the hub interface; ``state`` holds the Lua scripts that make cluster-wide
transitions atomic; ``routes``, ``topics`` and ``publisher`` carry messages between nodes;
``nodes`` keeps liveness; ``reads`` answers the HTTP API's questions.
"""

from tidings.hub.redis.adapter import RedisAdapter

__all__ = ["RedisAdapter"]
