"""Certificates for TLS tests: a private CA made by ``trustme`` that only the test trusts."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

HOSTS = ("127.0.0.1", "localhost")


@dataclass
class PrivateCA:
    """A CA and the files a tidings server is started with; ``issue`` rewrites them in place,
    as a renewal does."""

    directory: Path
    ca: trustme.CA

    @classmethod
    def create(cls, directory: Path) -> PrivateCA:
        test_ca = cls(directory, trustme.CA())
        test_ca.ca.cert_pem.write_to_path(str(test_ca.ca_file))
        test_ca.issue()
        return test_ca

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    @property
    def cert_file(self) -> str:
        return str(self.directory / "cert.pem")

    @property
    def key_file(self) -> str:
        return str(self.directory / "key.pem")

    def issue(self, issuer: trustme.CA | None = None) -> bytes:
        """A new leaf for 127.0.0.1/localhost over cert.pem and key.pem; its DER bytes."""
        leaf = (issuer or self.ca).issue_cert(*HOSTS)
        leaf.private_key_pem.write_to_path(self.key_file)
        leaf.cert_chain_pems[0].write_to_path(self.cert_file)
        return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())

    def settings(self) -> dict[str, str]:
        return {"tls_cert": self.cert_file, "tls_key": self.key_file}

    def encrypt_key(self, password: str) -> None:
        """Rewrite key.pem encrypted with ``password`` (PKCS#8, as openssl writes it)."""
        key = serialization.load_pem_private_key(Path(self.key_file).read_bytes(), None)
        Path(self.key_file).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(password.encode()),
            )
        )


def served_certificate(host: str, port: int, ca_file: str) -> bytes:
    """The DER certificate a new TLS handshake with ``host:port`` is shown (verified)."""
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der
