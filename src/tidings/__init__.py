"""tidings: a self-hosted realtime messaging server speaking the Pusher Channels protocol."""

__version__ = "0.1.0"
