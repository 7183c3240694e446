"""No provider's name, path or field name leaks out of its adapter: the rest of the yard talks
to the abstraction (the seed's "leaky abstraction", caught by walking the source)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SEARCHED = ("services", "shared")
# adapter module (its package's registry may name its class) -> what only it may say
ADAPTERS: dict[str, tuple[str, ...]] = {
    "services/email/apis/sendgrid.py": (
        "sendgrid", "SendGrid", "/v3/mail/send", "personalizations", "custom_args",
        "x-message-id",
    ),
    "services/email/apis/postmark.py": (
        "postmark", "Postmark", "MessageStream", "HtmlBody", "TextBody", "ErrorCode",
    ),
    "services/publisher/analytics/segment.py": (
        "segment.io", "/v1/track", "messageId", "anonymousId",
    ),
    "services/publisher/analytics/posthog.py": (
        "posthog", "PostHog", "/capture/", "distinct_id", "$lib",
    ),
    # "stripe" itself is also a webhook signature scheme at intake's door, so not listed here.
    "services/order_followup/payments/stripe.py": (
        "/v1/payment_intents", "/v1/refunds", "/v1/balance", "payment_intent", "off_session",
        "idempotency_error", "charge_already_refunded",
    ),
    "services/order_followup/payments/mollie.py": (
        "mollie", "Mollie", "/v2/payments", "/v2/methods", "sequenceType", "customerId",
    ),
}  # fmt: skip
REGISTRIES = {
    "services/email/apis/__init__.py",
    "services/publisher/analytics/__init__.py",
    "services/order_followup/payments/__init__.py",
}


def sources() -> list[Path]:
    return [p for d in SEARCHED for p in sorted((ROOT / d).rglob("*.py"))]


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_only_the_adapter_speaks_its_providers_language(adapter: str) -> None:
    assert (ROOT / adapter).exists()
    leaks = []
    for path in sources():
        relative = path.relative_to(ROOT).as_posix()
        if relative == adapter or relative in REGISTRIES:
            continue
        text = path.read_text(encoding="utf-8")
        leaks += [f"{relative}: {token!r}" for token in ADAPTERS[adapter] if token in text]
    assert leaks == []
