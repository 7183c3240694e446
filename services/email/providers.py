"""Mail providers: SMTP (aiosmtplib), a generic JSON mail API and the hosted APIs' adapters
(`services/email/apis/`) through the gateway, and the console."""

from __future__ import annotations

import sys
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

import aiosmtplib

from services.email.apis import API_ADAPTERS
from services.email.base import PRIORITY_HEADERS, Provider, header_fields
from services.email.rendering import RenderedEmail
from shared.config import EmailConfig, read_secret
from shared.errors import ConfigError, PermanentError, TransientError
from shared.gateway import Gateway, UnreadableJsonError, json_body


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
    if config.provider in API_ADAPTERS:
        if not config.http_integration:
            raise ConfigError(
                f"email.provider = {config.provider!r} needs email.http_integration: the "
                "[integrations.<name>] table with its base URL and API key"
            )
        adapter = API_ADAPTERS[config.provider]
        return adapter(config.http_integration, config.from_address, gateway)
    if config.provider != "console":
        known = ", ".join(["smtp", "http", "console", *API_ADAPTERS])
        raise ConfigError(f"email.provider = {config.provider!r} is none of {known}")
    return ConsoleProvider(config.from_address, path=config.console_path)
