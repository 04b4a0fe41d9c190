"""Server contexts from PEM files: each unusable file is named with what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tls import PrivateCA
from tidings.config import load
from tidings.net.tls import CertificateSwitch, TlsError, TlsFiles, load_server_context


@pytest.fixture
def ca(tmp_path: Path) -> PrivateCA:
    return PrivateCA.create(tmp_path)


def test_a_good_pair_loads_and_the_switch_hands_new_handshakes_the_newest(ca: PrivateCA) -> None:
    first = load_server_context(TlsFiles(ca.cert_file, ca.key_file))
    switch = CertificateSwitch(first)
    assert switch.entry is first and first.sni_callback is not None
    second = load_server_context(TlsFiles(ca.cert_file, ca.key_file))
    switch.replace(second)
    assert switch.entry is first and switch.current is second


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("cert", "{dir}", "is a directory"),
        ("key", "{dir}/missing.pem", "does not exist"),
        ("key", "{key}/inside.pem", "cannot be read: Not a directory"),
        ("chain", "{key}", "CERTIFICATE block"),
        ("key", "{cert}", "PRIVATE KEY block"),
    ],
)
def test_unusable_files_are_named(ca: PrivateCA, field: str, value: str, says: str) -> None:
    files = {"cert": ca.cert_file, "key": ca.key_file, "chain": ""}
    files[field] = value.format(dir=ca.directory, key=ca.key_file, cert=ca.cert_file)
    with pytest.raises(TlsError, match=says) as raised:
        load_server_context(TlsFiles(files["cert"], files["key"], chain=files["chain"]))
    assert repr(files[field]) in str(raised.value)


def test_tls_settings_come_from_the_environment_like_every_server_setting() -> None:
    cfg = load(
        None,
        {
            "TIDINGS_TLS_CERT": "/etc/tidings/cert.pem",
            "TIDINGS_TLS_KEY": "/etc/tidings/key.pem",
            "TIDINGS_TLS_KEY_PASSWORD": "pass",
            "TIDINGS_TLS_CA": "/etc/tidings/chain.pem",
        },
    )
    server = cfg.server
    assert (server.tls_cert, server.tls_key) == ("/etc/tidings/cert.pem", "/etc/tidings/key.pem")
    assert (server.tls_key_password, server.tls_ca) == ("pass", "/etc/tidings/chain.pem")
