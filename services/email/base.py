"""What every mail provider is, and the header fields every one of them writes."""

from __future__ import annotations

import re
from typing import Protocol

from services.email.rendering import Priority, RenderedEmail
from shared.errors import ContractError


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
