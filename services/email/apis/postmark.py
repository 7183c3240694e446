"""Postmark's Email API (`POST /email`), through the gateway.

The integration table carries the base URL (`https://api.postmarkapp.com`) and the server token
(`auth = "header"`, `auth_header = "X-Postmark-Server-Token"`); this adapter knows the body and
what Postmark's `ErrorCode`s mean.
"""

from __future__ import annotations

from typing import Any

from services.email.base import PRIORITY_HEADERS, header_fields
from services.email.rendering import RenderedEmail
from shared import bounded_json
from shared.errors import PermanentError, TransientError
from shared.gateway import Gateway, UnreadableJsonError, json_body
from shared.gateway.errors import HttpPermanentError

SEND_PATH = "/email"
HEALTH_PATH = "/server"  # the server's own settings: authenticated, cheap, no side effect
STREAM = "outbound"  # Postmark's default transactional message stream
# Postmark answers 422 with an ErrorCode for every refusal; these few say "later", not "never":
# 405 the account ran out of credits, 429 too many requests, 100 its maintenance mode.
_LATER = frozenset({100, 405, 429})


class PostmarkProvider:
    """Sends through Postmark: 200 with ErrorCode 0 is accepted; the rest by ErrorCode."""

    name = "postmark"
    health_path = HEALTH_PATH

    def __init__(self, integration: str, sender: str, gateway: Gateway) -> None:
        self._integration = integration
        self._sender = sender
        self._gateway = gateway

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        """POST the message; Postmark's id comes back as `MessageID`."""
        header_fields(email, self._sender, message_id)
        try:
            response = await self._gateway.request(
                self._integration,
                "POST",
                SEND_PATH,
                json=body(email, self._sender, message_id),
                headers={"Accept": "application/json"},
                idempotency_key=message_id,
            )
        except HttpPermanentError as error:
            raise _refusal(error) from error
        except TransientError as error:
            raise TransientError(f"postmark did not take the email: {error}") from error
        try:
            answer = json_body(response)
        except UnreadableJsonError:
            return None  # accepted (2xx); only the id is missing
        found = answer.get("MessageID") if isinstance(answer, dict) else None
        return str(found) if found is not None else None


def body(email: RenderedEmail, sender: str, message_id: str) -> dict[str, Any]:
    """The Email API body."""
    return {
        "From": sender,
        "To": email.to,
        "Subject": email.subject,
        "TextBody": email.text,
        "HtmlBody": email.html,
        "MessageStream": STREAM,
        "Headers": [{"Name": n, "Value": v} for n, v in PRIORITY_HEADERS[email.priority].items()],
        "Metadata": {"eventyard_message_id": message_id},
    }


def _refusal(error: HttpPermanentError) -> TransientError | PermanentError:
    """Postmark's 422 by its ErrorCode; any other refusal is permanent."""
    code, detail = _postmark_error(error.answer)
    text = f"postmark refused the email (HTTP {error.status_code}, ErrorCode {code}): {detail}"
    if error.status_code == 422 and code in _LATER:
        return TransientError(text)
    return PermanentError(text)


def _postmark_error(answer: bytes) -> tuple[int | None, str]:
    """`ErrorCode` and `Message` of Postmark's error body, when it is one."""
    try:
        found = bounded_json.loads(answer)
    except ValueError:
        return None, "no readable error body"
    if not isinstance(found, dict):
        return None, "no readable error body"
    code, message = found.get("ErrorCode"), found.get("Message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message[:200] if isinstance(message, str) else "",
    )
