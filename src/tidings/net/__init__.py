"""The network layer: the only code that knows sockets, HTTP parsing and WebSocket framing."""
