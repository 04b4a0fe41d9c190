"""The one failure that shared state reports to its callers, whichever part holds the state."""

from __future__ import annotations


class HubUnavailable(Exception):
    """Shared state cannot be reached (e.g. Redis is down); the request can be retried."""
