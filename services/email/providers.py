"""Mail providers: SMTP (aiosmtplib), a JSON mail API through the gateway, and the console."""

from __future__ import annotations

import re
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, TextIO

import aiosmtplib

from services.email.rendering import Priority, RenderedEmail
from shared.config import EmailConfig, read_secret
from shared.errors import ConfigError, ContractError, PermanentError, TransientError
from shared.gateway import Gateway, UnreadableJsonError, json_body


class Provider(Protocol):
    """Sends one rendered email; returns the provider's message id if it gives one."""

    name: str

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        """Send, or raise TransientError / PermanentError."""
        ...


# The headers mail clients read for priority: `Importance` (Outlook) and `X-Priority` (most others).
PRIORITY_HEADERS: dict[Priority, dict[str, str]] = {
    "high": {"Importance": "high", "X-Priority": "1 (Highest)"},
    "normal": {},
    "low": {"Importance": "low", "X-Priority": "5 (Lowest)"},
}


# NUL and every character str.splitlines() breaks on: in a header field, any of them could
# start a header of the requester's choosing somewhere along the mail's way.
_LINE_BREAK = re.compile("[\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def header_fields(email: RenderedEmail, sender: str, message_id: str) -> dict[str, str]:
    """The header fields every provider writes; ContractError (parked, never retried) if one
    carries a line break."""
    fields = {
        "From": sender,
        "To": email.to,
        "Subject": email.subject,
        # A stable Message-ID lets mail systems recognise a resend after a crash as the same.
        "Message-ID": f"<{message_id}@eventyard>",
    }
    for name, value in fields.items():
        if _LINE_BREAK.search(value):
            raise ContractError(f"the {name} header field contains a line break (CR, LF or like)")
    return fields


def mime(email: RenderedEmail, sender: str, message_id: str) -> EmailMessage:
    """A multipart/alternative message with a text and an HTML part."""
    message = EmailMessage()
    for header, value in header_fields(email, sender, message_id).items():
        message[header] = value
    for header, value in PRIORITY_HEADERS[email.priority].items():
        message[header] = value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class ConsoleProvider:
    """Prints the email (development and the demo)."""

    name = "console"

    def __init__(self, sender: str, out: TextIO | None = None, path: Path | None = None) -> None:
        self._sender = sender
        self._out = out
        self._path = path

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        """Print it (and append it to `path`, where the demo reads it)."""
        fields = header_fields(email, self._sender, message_id)
        priority = f"Priority: {email.priority}\n" if email.priority != "normal" else ""
        text = (
            f"--- email {message_id} ---\nFrom: {fields['From']}\nTo: {fields['To']}\n"
            f"Subject: {fields['Subject']}\n{priority}\n{email.text.rstrip()}\n"
            "--- end of email ---\n"
        )
        out = self._out or sys.stdout
        out.write(text)
        out.flush()
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as log:
                log.write(text)
        return f"<{message_id}@eventyard>"


class SmtpProvider:
    """Sends over SMTP: 4xx answers and connection trouble are transient, 5xx permanent."""

    name = "smtp"

    def __init__(self, config: EmailConfig) -> None:
        self._config = config
        self._password = read_secret(config.smtp_password) if config.smtp_password else None

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        """Send through the relay."""
        c = self._config
        try:
            await aiosmtplib.send(
                mime(email, c.from_address, message_id),
                hostname=c.smtp_host,
                port=c.smtp_port,
                username=c.smtp_username,
                password=self._password,
                use_tls=c.smtp_tls == "tls",
                start_tls=c.smtp_tls == "starttls",
                timeout=c.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise _by_code(min(r.code for r in error.recipients), error) from error
        except aiosmtplib.SMTPResponseException as error:
            raise _by_code(error.code, error) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TransientError(f"SMTP {c.smtp_host}:{c.smtp_port}: {error}") from error
        return f"<{message_id}@eventyard>"


def _by_code(code: int, error: Exception) -> TransientError | PermanentError:
    text = f"SMTP {code}: {error}"
    return PermanentError(text) if 500 <= code < 600 else TransientError(text)


class HttpProvider:
    """A JSON mail API called through the gateway, with the event id as idempotency key."""

    name = "http"

    def __init__(self, config: EmailConfig, gateway: Gateway) -> None:
        if not config.http_integration:
            raise ConfigError("email.provider = 'http' needs email.http_integration")
        self._config = config
        self._gateway = gateway

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        """POST the message; the gateway maps 5xx/429 to transient and other 4xx to permanent."""
        c = self._config
        header_fields(email, c.from_address, message_id)  # the mail API writes them as headers
        response = await self._gateway.request(
            c.http_integration or "",
            "POST",
            c.http_path,
            json={
                "from": c.from_address,
                "to": email.to,
                "subject": email.subject,
                "text": email.text,
                "html": email.html,
                "priority": email.priority,
            },
            idempotency_key=message_id,
        )
        try:
            answer = json_body(response)
        except UnreadableJsonError:
            # The mail was accepted (2xx); an answer without a readable id only lacks the id.
            return None
        found = answer.get("id") if isinstance(answer, dict) else None
        return str(found) if found is not None else None


def provider_for(config: EmailConfig, gateway: Gateway) -> Provider:
    """The provider the integrations file chose."""
    if config.provider == "smtp":
        return SmtpProvider(config)
    if config.provider == "http":
        return HttpProvider(config, gateway)
    return ConsoleProvider(config.from_address, path=config.console_path)
