"""The SMTP provider against a local server: refusals at RCPT TO, STARTTLS and TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.email.providers import SmtpProvider
from services.email.rendering import RenderedEmail
from shared.config import EmailConfig
from shared.errors import PermanentError, TransientError
from tests.support.smtp import Mailbox, smtp_server
from tests.support.tls import Certificates, needs_openssl, throwaway_certificates

EVENT_ID = "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10"
EMAIL = RenderedEmail("ada@example.com", "Hello", "Hi Ada", "<p>Hi Ada</p>")


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


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return throwaway_certificates(tmp_path)


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
