"""TLS from the settings: the start-up check (exit 2 naming the file) and reload on SIGHUP."""

from __future__ import annotations

import logging

from tidings.config import ConfigError, ServerSettings
from tidings.net.tls import CertificateSwitch, TlsError, TlsFiles, load_server_context

log = logging.getLogger("tidings")


def tls_files(server: ServerSettings) -> TlsFiles | None:
    if not server.tls_cert:
        return None
    return TlsFiles(server.tls_cert, server.tls_key, server.tls_key_password, server.tls_ca)


def load_tls(server: ServerSettings) -> CertificateSwitch | None:
    """The server's TLS context, or ``ConfigError`` (exit 2) when a file cannot be used."""
    files = tls_files(server)
    if files is None:
        return None
    try:
        return CertificateSwitch(load_server_context(files))
    except TlsError as error:
        raise ConfigError(
            f"TLS: {error} (set by --tls-cert/--tls-key, [server] tls_* or TIDINGS_TLS_*)"
        ) from None


def reload_tls(server: ServerSettings, switch: CertificateSwitch) -> bool:
    """Read the files again for new connections; on failure keep serving the old certificate."""
    files = tls_files(server)
    assert files is not None
    try:
        switch.replace(load_server_context(files))
    except TlsError as error:
        log.error("TLS reload failed, still serving the previous certificate: %s", error)
        return False
    log.warning("TLS certificate reloaded from %s for new connections", files.cert)
    return True
