"""Which web pages may open sockets with an app's key: ``allowed_origins`` patterns.

A pattern is ``scheme://host[:port]`` as browsers send it in ``Origin``; a host starting with
``*.`` stands for any subdomain of what follows (not the bare domain), ``*`` for any origin.
Default ports are left out on both sides, as browsers do.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(origin: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` with the scheme's default port as None, or None if malformed."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not parts.scheme or not host or parts.path not in ("", "/") or parts.query:
        return None
    if parts.username is not None or parts.fragment:
        return None
    if port == _DEFAULT_PORTS.get(parts.scheme):
        port = None
    return parts.scheme, host, port


def normalize_pattern(pattern: str) -> str:
    """The pattern in the form ``origin_allowed`` compares, or ``ValueError`` saying why not."""
    if pattern.strip() == "*":
        return "*"
    split = _split(pattern)
    if split is None or "*" in split[1].removeprefix("*.") or split[1] == "*.":
        raise ValueError(
            f"{pattern!r} is not an origin: write scheme://host[:port] (like "
            '"https://app.example.com"), "https://*.example.com" for its subdomains, or "*"'
        )
    scheme, host, port = split
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def origin_allowed(patterns: tuple[str, ...], origin: str | None) -> bool:
    """Whether a socket whose handshake carried ``origin`` may connect.

    No patterns: any. No ``Origin`` header: allowed too, since only browsers send one, and the
    check exists to keep other sites' pages off the key; anything that is not a browser could
    send whatever origin it likes."""
    if not patterns or origin is None:
        return True
    split = _split(origin)
    if split is None:  # "null" (sandboxed frames, file://) and anything malformed
        return "*" in patterns
    scheme, host, port = split
    suffix = f":{port}" if port is not None else ""
    for pattern in patterns:
        if pattern == "*" or pattern == f"{scheme}://{host}{suffix}":
            return True
        prefix = f"{scheme}://*."
        if pattern.startswith(prefix) and pattern.endswith(suffix):
            domain = pattern[len(prefix) : len(pattern) - len(suffix)]
            if port is None and ":" in domain:
                continue  # the pattern names a port the origin does not have
            if host.endswith(f".{domain}"):
                return True
    return False
