"""RFC 6455 server frames, built once per broadcast and written as-is to every subscriber.

Servers never mask, and permessage-deflate stays off so a frame's bytes are the same for all.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81
_FIN_CLOSE = 0x88


def _frame(first_byte: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first_byte, length)
    elif length < 65536:
        header = struct.pack("!BBH", first_byte, 126, length)
    else:
        header = struct.pack("!BBQ", first_byte, 127, length)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    return _frame(_FIN_TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    # Control frames carry at most 125 bytes: 2 for the code, the rest for the reason.
    return _frame(_FIN_CLOSE, struct.pack("!H", code) + reason.encode()[:123])
