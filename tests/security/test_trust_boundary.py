"""A trust boundary per contract: a door produces only the contracts its producers may.

Downstream services treat `webhook.received.*` as a verified partner webhook and
`user.authenticated.v1` as a real sign-in; whoever can write to the drop queue must not be able
to forge either, nor another service's outcome.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from contracts.base import Contract
from contracts.emails import EmailRequestedV1, EmailSentV1
from contracts.envelope import CONTENT_TYPE, utc_now
from contracts.orders import OrderCrmSyncedV1
from contracts.registry import envelope_model
from contracts.users import UserAuthenticatedV1
from contracts.webhooks import WebhookReceivedV1
from services.asyncapi import document
from services.intake.app import QUEUE
from services.intake.sources import load_source
from services.yard import build_topology
from shared import headers as h
from shared.config import IntegrationsFile, SourceConfig
from shared.errors import ConfigError
from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import sample_order
from tests.support.intake import Intake, intake_running
from tests.support.waiting import eventually

SHOP = "whsec_" + base64.b64encode(b"shop-secret-0123456789").decode()
CONFIG = {"sources": {"shop": {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"]}}}


@pytest.fixture
async def intake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Intake]:
    # `#` captures every event intake routes, whatever its type.
    async with intake_running(settings, monkeypatch, CONFIG, {"SHOP_SECRET": SHOP}, ["#"]) as i:
        yield i


def example(contract: type[Contract]) -> dict[str, Any]:
    found: dict[str, Any] = contract.model_json_schema()["examples"][0]
    return found


def cloud_event(contract: type[Contract], event_type: str | None = None) -> aio_pika.Message:
    event = envelope_model(contract)(
        id="forged-1",
        source="/webhooks/shop",
        type=event_type or contract.TYPE,
        time=utc_now(),
        dataschema=contract.dataschema(),
        data=contract.model_validate(example(contract)),
    )
    return aio_pika.Message(event.to_json(), content_type=CONTENT_TYPE)


def bare(contract: type[Contract]) -> aio_pika.Message:
    body = contract.model_validate(example(contract)).model_dump_json().encode()
    return aio_pika.Message(body, type=contract.key(), message_id="forged-2")


FORGERIES = {
    "a signed partner webhook": cloud_event(WebhookReceivedV1, "webhook.received.shop"),
    "a webhook of a source nobody configured": cloud_event(WebhookReceivedV1, "webhook.received.x"),
    "an OAuth sign-in": bare(UserAuthenticatedV1),
    "the email service's outcome": cloud_event(EmailSentV1),
    "a follow-up step's outcome": bare(OrderCrmSyncedV1),
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
async def test_the_drop_door_parks_a_contract_it_may_not_produce(
    intake: Intake, forgery: aio_pika.Message
) -> None:
    # When a producer drops a contract that only another door or service may produce
    await intake.drop(forgery)
    # Then it is parked at once with the reason, and nothing is routed
    await eventually(lambda: intake.depth(QUEUE.parked))
    [parked] = await intake.parked()
    assert "contract not accepted at this door" in str(parked.headers[h.ERROR_MESSAGE])
    assert parked.headers[h.ATTEMPTS] == 1
    assert await intake.captured() == []


async def test_the_drop_door_still_takes_what_producers_may_drop(intake: Intake) -> None:
    order = sample_order("ord_dropped").model_dump_json().encode()
    await intake.drop(
        aio_pika.Message(order, type="order.created.v1", message_id="ok-1"), bare(EmailRequestedV1)
    )

    async def both_routed() -> bool:
        return await intake.depth("test.captured") >= 2

    await eventually(both_routed)
    types = sorted(event["type"] for event in await intake.captured())
    assert types == ["email.requested", "order.created"]
    assert await intake.depth(QUEUE.parked) == 0


def test_a_source_may_not_map_webhooks_to_an_internal_contract(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_SECRET", SHOP)
    config = SourceConfig(
        scheme="standard-webhooks", secrets=["SHOP_SECRET"], map={"paid": "order.crm_synced.v1"}
    )
    with pytest.raises(ConfigError, match=r"order.crm_synced.v1, which only order-followup"):
        load_source("shop", config)


@pytest.mark.parametrize("command", [["contracts"], ["contracts", "list"]])
def test_the_contracts_command_shows_who_produces_each(
    settings: Settings, command: list[str]
) -> None:
    listed = eventyard(settings, *command)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:]}
    assert rows["webhook.received.v1"] == "intake-http"
    assert rows["user.authenticated.v1"] == "intake-http"
    assert rows["email.sent.v1"] == "email"
    assert rows["email.requested.v1"] == "any"


def test_the_asyncapi_document_offers_the_drop_queue_only_what_it_accepts(
    settings: Settings,
) -> None:
    doc = document(build_topology(settings, IntegrationsFile()))
    offered = set(doc["channels"]["intake_queue"]["messages"])
    assert offered == {
        "order_created_v1",
        "order_cancelled_v1",
        "email_requested_v1",
        "analytics_tracked_v1",
    }
    message = doc["components"]["messages"]["webhook_received_v1"]
    assert message["x-eventyard-producers"] == ["intake-http"]
