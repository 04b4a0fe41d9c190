"""The client's address from a trusted proxy: PROXY v1/v2 headers (whole or in pieces) and
X-Forwarded-For, whose entries left of the first untrusted one are the client's own say."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from tidings.net.client_address import (
    V2_SIGNATURE,
    ProxyHeaderError,
    TrustedProxies,
    parse_proxy_header,
)

TRUSTED = TrustedProxies(["10.0.0.0/8", "127.0.0.4", "fd00::/8"])


def v2(command: int, family: int, addresses: bytes, tlvs: bytes = b"") -> bytes:
    body = addresses + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


V2_TCP4 = v2(1, 0x11, ipaddress.IPv4Address("203.0.113.7").packed * 2 + b"\x10\x00\x17\x71")
V2_TCP6 = v2(1, 0x21, ipaddress.IPv6Address("2001:db8::1").packed * 2 + b"\x10\x00\x17\x71")


@pytest.mark.parametrize(
    ("header", "source"),
    [
        (b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 6001\r\n", "203.0.113.7"),
        (b"PROXY TCP6 2001:db8::1 fd00::1 56324 6001\r\n", "2001:db8::1"),
        (b"PROXY UNKNOWN\r\n", None),
        (V2_TCP4, "203.0.113.7"),
        (V2_TCP6, "2001:db8::1"),
        (v2(1, 0x11, V2_TCP4[16:], tlvs=b"\x04\x00\x02ok"), "203.0.113.7"),  # TLVs skipped
        (v2(0, 0x00, b""), None),  # LOCAL: the proxy's own health check
    ],
)
def test_headers_whole_and_byte_by_byte(header: bytes, source: str | None) -> None:
    after = b"GET / HTTP/1.1\r\n"
    assert parse_proxy_header(header + after) == (len(header), source)
    for cut in range(len(header)):
        assert parse_proxy_header(header[:cut]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4\r\n",
        b"PROXY " + b"x" * 120,
        V2_SIGNATURE + b"\x11\x11\x00\x00",  # version 1 in a v2 header
        b"\r\n\r\nnope",
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(data)


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.4", "203.0.113.7", "203.0.113.7"),
        ("127.0.0.4", "198.51.100.1, 203.0.113.7, 10.1.2.3", "203.0.113.7"),  # skip our hops
        ("127.0.0.4", "forged, 203.0.113.7", "203.0.113.7"),
        ("127.0.0.4", "10.0.0.1, 10.0.0.2", "10.0.0.1"),  # all ours: the farthest
        ("127.0.0.4", "garbage", "127.0.0.4"),
        ("127.0.0.4", "203.0.113.7:4711", "203.0.113.7"),
        ("127.0.0.4", "[2001:db8::1]:4711", "2001:db8::1"),
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),  # an untrusted peer's word is ignored
        ("::ffff:127.0.0.4", "203.0.113.7", "203.0.113.7"),  # a dual-stack socket's v4 peer
        ("127.0.0.4", None, "127.0.0.4"),
    ],
)
def test_forwarded_for(peer: str, header: str | None, client: str) -> None:
    assert TRUSTED.forwarded_client(peer, header) == client


def test_nobody_is_trusted_by_default() -> None:
    nobody = TrustedProxies(())
    assert not nobody
    assert nobody.forwarded_client("127.0.0.1", "203.0.113.7") == "127.0.0.1"
