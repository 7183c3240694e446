"""SendGrid's v3 Mail Send API (`POST /v3/mail/send`), through the gateway.

The integration table carries the base URL (`https://api.sendgrid.com`) and the API key
(`auth = "bearer"`); this adapter knows the body and what SendGrid's answers mean.
"""

from __future__ import annotations

from typing import Any

from services.email.base import PRIORITY_HEADERS, header_fields
from services.email.rendering import RenderedEmail
from shared import bounded_json
from shared.errors import PermanentError, TransientError
from shared.gateway import Gateway
from shared.gateway.errors import HttpPermanentError

SEND_PATH = "/v3/mail/send"
HEALTH_PATH = "/v3/scopes"  # an authenticated read of the key's own scopes: cheap, no side effect


class SendGridProvider:
    """Sends through SendGrid: 202 is accepted; 429 and 5xx retried; other 4xx parked."""

    name = "sendgrid"
    health_path = HEALTH_PATH

    def __init__(self, integration: str, sender: str, gateway: Gateway) -> None:
        self._integration = integration
        self._sender = sender
        self._gateway = gateway

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        """POST the message; SendGrid's id comes back in `X-Message-Id`."""
        header_fields(email, self._sender, message_id)  # no line break in any header field
        try:
            response = await self._gateway.request(
                self._integration,
                "POST",
                SEND_PATH,
                json=body(email, self._sender, message_id),
                idempotency_key=message_id,
            )
        except HttpPermanentError as error:
            detail = _sendgrid_error(error.answer)
            raise PermanentError(
                f"sendgrid refused the email (HTTP {error.status_code}): {detail}"
            ) from error
        except TransientError as error:
            raise TransientError(f"sendgrid did not take the email: {error}") from error
        found: str | None = response.headers.get("x-message-id")
        return found


def body(email: RenderedEmail, sender: str, message_id: str) -> dict[str, Any]:
    """The v3 Mail Send body: one personalization, text then HTML content."""
    message: dict[str, Any] = {
        "personalizations": [{"to": [{"email": email.to}]}],
        "from": {"email": sender},
        "subject": email.subject,
        # RFC 7231 order: text/plain must come first, then text/html.
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
        # Returned in SendGrid's event webhooks, so a bounce can be tied to the request.
        "custom_args": {"eventyard_message_id": message_id},
    }
    priority = PRIORITY_HEADERS[email.priority]
    if priority:
        message["headers"] = dict(priority)
    return message


def _sendgrid_error(answer: bytes) -> str:
    """The first `errors[].message` (and its `field`) of SendGrid's error body."""
    try:
        found = bounded_json.loads(answer)
    except ValueError:
        return "no readable error body"
    errors = found.get("errors") if isinstance(found, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict) or not isinstance(first.get("message"), str):
        return "no readable error body"
    field = first.get("field")
    where = f" ({field})" if isinstance(field, str) and field else ""
    return f"{first['message'][:200]}{where[:60]}"
