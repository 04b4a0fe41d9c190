"""TLS for the listener: a server context from PEM files, and swapping it without a restart.

A certificate renewed on disk (certbot, cert-manager) is taken up by ``CertificateSwitch``:
new handshakes get the new context, sockets already open keep the session they negotiated.
"""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path


class TlsError(Exception):
    """A certificate or key that cannot be used, worded for the person who has to fix it."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: str  # PEM: the certificate, optionally followed by its intermediates
    key: str  # PEM private key, optionally encrypted with ``key_password``
    key_password: str = ""
    chain: str = ""  # PEM intermediates sent after the certificate, when not in ``cert``


def _read(path: str, what: str, marker: bytes) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise TlsError(f"the {what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise TlsError(f"the {what} {path!r} is a directory, not a PEM file") from None
    except OSError as error:
        raise TlsError(f"the {what} {path!r} cannot be read: {error.strerror}") from None
    if marker not in data:
        block = marker.decode().strip("-")
        raise TlsError(f"the {what} {path!r} is not a PEM file with a {block} block")
    return data


def load_server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context, or ``TlsError`` saying what is wrong with which file."""
    cert = _read(files.cert, "certificate (tls_cert)", b"CERTIFICATE-----")
    _read(files.key, "private key (tls_key)", b"PRIVATE KEY-----")
    if files.chain:
        # One file for OpenSSL to send whole: the certificate first, then its intermediates.
        chain = _read(files.chain, "CA chain (tls_ca)", b"CERTIFICATE-----")
        cert = cert.rstrip(b"\n") + b"\n" + chain
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])

    asked: list[bool] = []

    def password() -> bytes:
        # Without a callback OpenSSL would prompt on the terminal and hang the start-up.
        asked.append(True)
        if not files.key_password:
            raise TlsError(
                f"the private key {files.key!r} is encrypted: set tls_key_password "
                "(or TIDINGS_TLS_KEY_PASSWORD)"
            )
        return files.key_password.encode()

    with tempfile.NamedTemporaryFile(prefix="tidings-cert-", suffix=".pem") as joined:
        joined.write(cert)
        joined.flush()
        try:
            context.load_cert_chain(joined.name, files.key, password)
        except ssl.SSLError as error:
            if asked and "KEY_VALUES_MISMATCH" not in str(error.reason):
                # OpenSSL says only "PEM lib" when an encrypted key fails to decrypt.
                message = f"tls_key_password does not decrypt the private key {files.key!r}"
                raise TlsError(message) from None
            raise TlsError(_explain(error, files)) from None
    return context


def _explain(error: ssl.SSLError, files: TlsFiles) -> str:
    reason = (error.reason or str(error)).upper()
    if "KEY_VALUES_MISMATCH" in reason:
        return (
            f"the private key {files.key!r} does not belong to the certificate {files.cert!r}; "
            "pass the key the certificate was issued for"
        )
    return (
        f"the certificate {files.cert!r} or private key {files.key!r} cannot be used "
        f"({error.reason or error}); check they are PEM files and belong together"
    )


class CertificateSwitch:
    """The context handed to the server once, and the one new handshakes really use.

    asyncio keeps the context it was given for the life of the server; the SNI callback runs on
    every ClientHello (with or without a server name) before a certificate is chosen, so it can
    point the handshake at the newest context instead.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.entry = context
        self.current = context
        context.sni_callback = self._choose

    def replace(self, context: ssl.SSLContext) -> None:
        self.current = context

    def _choose(
        self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, used: ssl.SSLContext
    ) -> None:
        current = self.current
        if used is not current:
            connection.context = current
