"""DKIM signing of outgoing replies (RFC 6376), verified with the published-key form a DNS TXT
record would carry — the verifier's DNS lookup is answered from the test's own key."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import dkim

from channels.email.outbound import dkim_sign

MESSAGE = (
    b"From: service@gateway.localhost\r\nTo: citizen@example.org\r\nSubject: Re: =?utf-8?b?6Lqr5Lu96K+B?=\r\n"
    b"Message-ID: <abc@gateway.localhost>\r\nAuto-Submitted: auto-replied\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease bring your household register.\r\n"
)


def _keypair(tmp_path: Path) -> tuple[Path, bytes]:
    private = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    public_der = subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
                                check=True, capture_output=True).stdout
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)


def test_signed_reply_verifies_and_tampering_breaks_it(tmp_path: Path) -> None:
    private, txt_record = _keypair(tmp_path)
    signed = dkim_sign(MESSAGE, key_path=str(private), selector="s1", domain="gateway.localhost")
    assert signed.startswith(b"DKIM-Signature:") and signed.endswith(MESSAGE)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.gateway.localhost."
        return txt_record

    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"household register", b"passport"), dnsfunc=dns)
