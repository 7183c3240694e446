"""Sign test webhooks the way real senders do, with the official packages where they exist."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook
from stripe import WebhookSignature


def standard_webhooks(
    secret: str,
    body: bytes,
    msg_id: str = "msg_1",
    at: float | None = None,
    prefix: str = "webhook",
) -> dict[str, str]:
    """Standard Webhooks headers signed by the `standardwebhooks` package."""
    stamp = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    signature = Webhook(secret).sign(msg_id, stamp, body.decode())
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(int(stamp.timestamp())),
        f"{prefix}-signature": signature,
    }


def stripe(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """A `Stripe-Signature` header computed by the `stripe` package."""
    stamp = int(time.time() if at is None else at)
    header = WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=stamp)
    return {"Stripe-Signature": header}


def github(
    secret: str,
    body: bytes,
    delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    event: str = "push",
) -> dict[str, str]:
    """GitHub's `X-Hub-Signature-256` headers."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": event,
    }
