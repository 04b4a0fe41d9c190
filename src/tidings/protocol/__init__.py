"""The Pusher Channels protocol as pure code: no sockets, no event loop, no clock of its own.

Everything here takes values in and gives values (or exceptions) back, so it is tested without
a network and shared unchanged by every transport and adapter.
"""
