"""A local SMTP server (aiosmtpd) that records mail and can answer 4xx or 5xx on request."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.services import free_port


@dataclass
class Mailbox:
    """Messages received; `replies` are answered to DATA and `rcpt_replies` to RCPT TO in turn.

    Once a list is used up, its command is answered 250. `encrypted` says, per message,
    whether it arrived over TLS.
    """

    replies: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    attempts: int = 0
    port: int = 0
    rcpt_replies: list[str] = field(default_factory=list)
    rcpt_attempts: int = 0
    encrypted: list[bool] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """aiosmtpd's hook for each RCPT TO."""
        self.rcpt_attempts += 1
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook for a complete message."""
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"


@contextmanager
def smtp_server(
    mailbox: Mailbox,
    *,
    starttls: ssl.SSLContext | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Mailbox]:
    """Run the server on a free loopback port for the duration of the block.

    With `starttls` the server offers STARTTLS and refuses mail until it is used; with `tls`
    it speaks TLS from the first byte.
    """
    mailbox.port = free_port()
    options: dict[str, Any] = {}
    if starttls is not None:
        options = {"tls_context": starttls, "require_starttls": True}
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=mailbox.port, ssl_context=tls, **options
    )
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
