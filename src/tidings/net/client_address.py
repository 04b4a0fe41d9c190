"""Who a client really is behind a proxy: the PROXY protocol header and ``X-Forwarded-For``,
each believed only when the peer that sent it is one of the configured trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# PROXY protocol v2 starts with this signature; v1 with "PROXY " and ends at CRLF (107 bytes).
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107


class ProxyHeaderError(Exception):
    """The bytes a trusted proxy sent first are not a PROXY protocol header."""


class TrustedProxies:
    """Addresses and CIDRs whose word about the client's address is taken."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry.strip(), strict=False) for entry in entries
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def forwarded_client(self, peer: str, forwarded_for: str | None) -> str:
        """The client behind ``peer``: the rightmost ``X-Forwarded-For`` entry that is not a
        trusted proxy (each proxy appends the address it saw; entries to the left of the first
        untrusted one are whatever the client chose to send)."""
        if not forwarded_for or peer not in self:
            return peer
        client = peer
        for entry in reversed(forwarded_for.split(",")):
            address = _plain(entry)
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return client  # garbage left of a trusted hop: that hop's peer is all we know
            client = address
            if address not in self:
                return address
        return client


def _plain(entry: str) -> str:
    """An ``X-Forwarded-For`` entry without the port or brackets some proxies add."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:  # IPv4 with a port
        return entry.partition(":")[0]
    return entry


def parse_proxy_header(data: bytes) -> tuple[int, str | None] | None:
    """``(bytes used, source address)`` of a PROXY header at the start of ``data``; the address
    is None for a LOCAL or UNKNOWN header (the proxy's own health check: use the peer). None
    while more bytes are needed; ``ProxyHeaderError`` if it is not one."""
    if data[:1] == b"\r":
        return _parse_v2(data)
    head = data[:6]
    if head != b"PROXY "[: len(head)]:
        raise ProxyHeaderError("no PROXY protocol header")
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 header longer than 107 bytes")
        return None
    fields = data[:end].decode("ascii", "replace").split(" ")
    if len(fields) >= 2 and fields[1] == "UNKNOWN":
        return end + 2, None
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("malformed PROXY v1 header")
    try:
        source = ipaddress.ip_address(fields[2])
    except ValueError:
        raise ProxyHeaderError("malformed PROXY v1 source address") from None
    return end + 2, str(source)


def _parse_v2(data: bytes) -> tuple[int, str | None] | None:
    if len(data) < 16:
        if V2_SIGNATURE[: len(data)] != data[:12]:
            raise ProxyHeaderError("no PROXY protocol header")
        return None
    if data[:12] != V2_SIGNATURE or data[12] >> 4 != 2:
        raise ProxyHeaderError("no PROXY protocol v2 header")
    length = 16 + int.from_bytes(data[14:16], "big")
    if len(data) < length:
        return None
    command, family = data[12] & 0x0F, data[13] >> 4
    if command == 0:  # LOCAL: the proxy speaking for itself
        return length, None
    if command != 1:
        raise ProxyHeaderError("unknown PROXY v2 command")
    if family == 1 and length >= 16 + 12:
        return length, str(ipaddress.IPv4Address(data[16:20]))
    if family == 2 and length >= 16 + 36:
        return length, str(ipaddress.IPv6Address(data[16:32]))
    return length, None  # AF_UNSPEC or AF_UNIX: no address to take
