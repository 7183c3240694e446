"""Deduplication rests only on what a signature covers.

GitHub-style and generic HMAC schemes sign the body alone: their delivery-id and event headers
can be rewritten by whoever captured one request. A replay under a new delivery id, or with
another event header, must not publish the same body again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from tests.support import signing
from tests.support.intake import Intake, intake_running
from tests.support.waiting import eventually

GITHUB = "github-secret"
GENERIC = "generic-secret"
SHOP = "whsec_" + base64.b64encode(b"shop-secret-0123456789").decode()
STRIPE = "whsec_stripe_test_secret"
CONFIG = {
    "sources": {
        "gh": {"scheme": "github", "secrets": ["GH_SECRET"]},
        "acme": {
            "scheme": "hmac-sha256",
            "secrets": ["ACME_SECRET"],
            "signature_header": "X-Sig",
            "id_header": "X-Delivery",
        },
        "shop": {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"]},
        "billing": {"scheme": "stripe", "secrets": ["BILLING_SECRET"]},
    }
}
SECRETS = {
    "GH_SECRET": GITHUB,
    "ACME_SECRET": GENERIC,
    "SHOP_SECRET": SHOP,
    "BILLING_SECRET": STRIPE,
}


@pytest.fixture
async def intake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Intake]:
    async with intake_running(settings, monkeypatch, CONFIG, SECRETS, ["#"]) as i:
        yield i


def github(body: bytes, delivery: str, event: str = "push") -> dict[str, str]:
    return {**signing.github(GITHUB, body), "X-GitHub-Delivery": delivery, "X-GitHub-Event": event}


def acme(body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(GENERIC.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Sig": digest, "X-Delivery": delivery}


async def routed(intake: Intake, count: int) -> list[str]:
    async def enough() -> bool:
        return await intake.depth("test.captured") >= count

    await eventually(enough)
    return [event["id"] for event in await intake.captured()]


async def test_a_github_body_replayed_under_a_new_delivery_id_is_a_duplicate(
    intake: Intake,
) -> None:
    body = b'{"ref": "refs/heads/main", "after": "7d1b1a3"}'
    first = await intake.post("gh", body, github(body, "delivery-1"))
    replayed = await intake.post("gh", body, github(body, "delivery-forged"))
    relabelled = await intake.post("gh", body, github(body, "delivery-2", event="release"))
    assert first.status_code == 202
    assert (replayed.status_code, replayed.json().get("duplicate")) == (200, True)
    assert (relabelled.status_code, relabelled.json().get("duplicate")) == (200, True)
    assert await routed(intake, 1) == [first.json()["event_id"]]
    assert await intake.depth("test.captured") == 0


async def test_the_github_delivery_id_is_still_shown_as_a_hint(intake: Intake) -> None:
    body = b'{"zen": "Design for failure."}'
    await intake.post("gh", body, github(body, "delivery-shown"))
    await eventually(lambda: intake.depth("test.captured"))
    [event] = await intake.captured()
    assert event["data"]["webhook_id"] == "delivery-shown"
    assert event["data"]["provider_type"] == "push"


async def test_a_generic_hmac_body_replayed_under_a_new_id_header_is_a_duplicate(
    intake: Intake,
) -> None:
    body = b'{"type": "invoice.paid", "invoice": "in_1"}'
    first = await intake.post("acme", body, acme(body, "d-1"))
    replayed = await intake.post("acme", body, acme(body, "d-forged"))
    assert first.status_code == 202
    assert replayed.status_code == 200
    assert replayed.json() == {"event_id": first.json()["event_id"], "duplicate": True}


async def test_distinct_signed_bodies_are_distinct_events(intake: Intake) -> None:
    one, two = b'{"n": 1}', b'{"n": 2}'
    first = await intake.post("gh", one, github(one, "same-delivery-id"))
    second = await intake.post("gh", two, github(two, "same-delivery-id"))
    assert (first.status_code, second.status_code) == (202, 202)
    assert len(set(await routed(intake, 2))) == 2


async def test_a_standard_webhooks_id_cannot_be_rewritten(intake: Intake) -> None:
    body = b'{"type": "customer.updated", "data": {}}'
    headers = signing.standard_webhooks(SHOP, body, "msg_1")
    forged = {**headers, "webhook-id": "msg_forged"}
    assert (await intake.post("shop", body, headers)).status_code == 202
    assert (await intake.post("shop", body, forged)).status_code == 401


async def test_a_stripe_event_id_comes_from_the_signed_body(intake: Intake) -> None:
    body = b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}'
    first = await intake.post("billing", body, signing.stripe(STRIPE, body))
    again = await intake.post("billing", body, signing.stripe(STRIPE, body))
    assert first.status_code == 202
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True}
