"""Metric labels stay bounded whatever a producer sends: no door adds series on demand."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.envelope import CONTENT_TYPE, utc_now
from contracts.registry import envelope_model
from contracts.webhooks import WebhookReceivedV1
from services.intake.app import QUEUE
from shared.metrics import Metrics
from shared.settings import Settings
from tests.support.intake import Intake, intake_running
from tests.support.waiting import eventually

SHOP = "whsec_" + base64.b64encode(b"shop-secret-0123456789").decode()
CONFIG = {"sources": {"shop": {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"]}}}
DROPS = 40


@pytest.fixture
async def intake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Intake]:
    async with intake_running(settings, monkeypatch, CONFIG, {"SHOP_SECRET": SHOP}, []) as i:
        yield i


def event_type_series(exposition: str) -> set[tuple[str, str]]:
    """(metric, event_type) of every sample that carries an event_type label."""
    return {
        (sample.name, sample.labels["event_type"])
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if "event_type" in sample.labels
    }


def random_webhook() -> aio_pika.Message:
    source = uuid.uuid4().hex[:12]
    data = WebhookReceivedV1.model_validate(WebhookReceivedV1.model_json_schema()["examples"][0])
    event = envelope_model(WebhookReceivedV1)(
        id=str(uuid.uuid4()),
        source=f"/webhooks/{source}",
        type=f"webhook.received.{source}",
        time=utc_now(),
        dataschema=WebhookReceivedV1.dataschema(),
        data=data,
    )
    return aio_pika.Message(event.to_json(), content_type=CONTENT_TYPE)


async def test_drops_with_random_webhook_types_add_no_series(intake: Intake) -> None:
    before = event_type_series((await intake.client.get(f"{intake.url}/metrics")).text)
    await intake.drop(*(random_webhook() for _ in range(DROPS)))

    async def all_parked() -> bool:
        return await intake.depth(QUEUE.parked) >= DROPS

    await eventually(all_parked)
    after = event_type_series((await intake.client.get(f"{intake.url}/metrics")).text)
    assert after - before == set()


def test_the_event_type_label_has_a_ceiling() -> None:
    metrics = Metrics("tests")
    for n in range(1000):
        metrics.count_published(f"webhook.received.s{n}.v1")
        metrics.count_unrouted(f"webhook.received.s{n}.v1")
    exposition = "\n".join(
        f"{s.name} {s.labels}"
        for family in metrics.registry.collect()
        for s in family.samples
        if "event_type" in s.labels
    )
    published = {s for s in exposition.splitlines() if s.startswith("eventyard_messages_pub")}
    unrouted = {s for s in exposition.splitlines() if s.startswith("eventyard_messages_unr")}
    # Counters export _total and _created per series: at most 100 types and `other` each.
    assert len(published) <= 2 * 101
    assert len(unrouted) <= 2 * 101
    assert "'other'" in exposition
