"""Standard Webhooks signatures on outbound deliveries (one per secret while a secret rotates)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (base64 after the prefix)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature_headers(
    secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature` (space-separated `v1,…`)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signatures = " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp)}
    if signatures:
        headers["webhook-signature"] = signatures
    return headers
