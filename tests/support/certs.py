"""A throwaway certificate authority and a loopback server certificate for the TLS tests.

Made with the ``openssl`` command (the ``cryptography`` package is not a dependency), EC P-256 so
that it takes milliseconds. The server certificate names ``localhost`` and ``127.0.0.1`` and is
signed by a CA that exists only in the test's directory: nothing trusts it unless told to, so the
gateway's clients keep full verification (chain and host name) and are pointed at the CA through
OpenSSL's standard ``SSL_CERT_FILE`` variable, which ``ssl.create_default_context`` reads.
"""

from __future__ import annotations

import secrets
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "2"


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA certificate and the server's certificate and private key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the loopback certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA only."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_cert))
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        return context


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificates(directory: Path, name: str = "Gateway Test") -> Certificates:
    """Create a CA and a server certificate for ``localhost``/``127.0.0.1`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    extensions = directory / "server.ext"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_cert), "-days", _DAYS,
        "-subj", f"/CN={name} CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl("req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-set_serial",
        str(secrets.randbits(63)), "-days", _DAYS, "-extfile", str(extensions),
        "-out", str(cert),
    )  # fmt: skip
    for private in (ca_key, key):
        private.chmod(0o600)
    return Certificates(ca_cert=ca_cert, server_cert=cert, server_key=key)
