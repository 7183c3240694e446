"""The SMTP provider against a local server: refusals at RCPT TO, STARTTLS and TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.email.providers import SmtpProvider
from services.email.rendering import RenderedEmail
from shared.config import EmailConfig
from shared.errors import PermanentError, TransientError
from tests.support.smtp import Mailbox, smtp_server
from tests.support.tools import needs_tool

EVENT_ID = "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10"
EMAIL = RenderedEmail("ada@example.com", "Hello", "Hi Ada", "<p>Hi Ada</p>")
needs_openssl = needs_tool(shutil.which("openssl") is not None, "needs the openssl command")


def provider(port: int, **options: Any) -> SmtpProvider:
    return SmtpProvider(EmailConfig(provider="smtp", smtp_port=port, **options))


async def test_550_at_rcpt_to_is_permanent() -> None:
    mailbox = Mailbox(rcpt_replies=["550 5.1.1 no such user"])
    with smtp_server(mailbox), pytest.raises(PermanentError, match="SMTP 550"):
        await provider(mailbox.port).send(EMAIL, EVENT_ID)
    assert (mailbox.rcpt_attempts, mailbox.attempts) == (1, 0)


async def test_451_at_rcpt_to_is_transient() -> None:
    mailbox = Mailbox(rcpt_replies=["451 4.3.0 greylisted"])
    with smtp_server(mailbox), pytest.raises(TransientError, match="SMTP 451"):
        await provider(mailbox.port).send(EMAIL, EVENT_ID)
    assert (mailbox.rcpt_attempts, mailbox.attempts) == (1, 0)


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1."""

    ca: Path
    server: ssl.SSLContext


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    ca, ca_key = tmp_path / "ca.pem", tmp_path / "ca.key"
    cert, key, csr = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "server.csr"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=eventyard test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "1", "-copy_extensions", "copy",
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return Certificates(ca, server)


@needs_openssl
@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_mail_goes_over_tls_to_a_server_the_trusted_ca_vouches_for(
    certificates: Certificates, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # OpenSSL's standard variable: how an operator trusts a private CA, so no option is needed.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    server = {mode: certificates.server}
    with smtp_server(Mailbox(), **server) as mailbox:
        await provider(mailbox.port, smtp_tls=mode).send(EMAIL, EVENT_ID)
    assert len(mailbox.messages) == 1
    assert mailbox.encrypted == [True]


@needs_openssl
async def test_a_certificate_no_trusted_ca_signed_is_refused(
    certificates: Certificates, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "no-cas.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    mailbox = Mailbox()
    refused = pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED")
    with smtp_server(mailbox, starttls=certificates.server), refused:
        await provider(mailbox.port, smtp_tls="starttls").send(EMAIL, EVENT_ID)
    assert mailbox.messages == []
