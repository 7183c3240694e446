"""publisher against real local receivers: signed, once each, ladder, 410, 429, timeouts,
best-effort never parked, outcome events at least once."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from aio_pika.abc import AbstractConnection, ExchangeType
from prometheus_client.parser import text_string_to_metric_families

from services.publisher.app import DEFINITION as PUBLISHER
from services.publisher.fanout import LEGACY_FANOUT_QUEUE
from services.publisher.switches import state
from services.yard import build_topology
from shared import headers as h
from shared.config import load_integrations
from shared.settings import RetrySettings, Settings
from shared.topology import EVENTS_EXCHANGE, WorkQueue, work_queue_arguments
from tests.support.cli import eventyard
from tests.support.events import connected, drain, emitter_for, queue_depth, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.services import running
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

SECRET = "whsec_" + base64.b64encode(b"partner-signing-secret-0123").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"partner-signing-secret-old").decode()


def destination(url: str, url_suffix: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "url": url + url_suffix,
        "events": ["order.*.v1"],
        "secrets": ["PARTNER_SECRET"],
        "allow_private_network": True,
        "timeout_seconds": 2,
        **extra,
    }


@asynccontextmanager
async def yard(
    settings: Settings, receivers: dict[str, Receiver], **per_destination: dict[str, Any]
) -> AsyncIterator[Callable[[int], Any]]:
    """Receivers served, the publisher running for them; yields `publish(n)`."""
    async with AsyncExitStack() as stack:
        for receiver in receivers.values():
            await stack.enter_async_context(serving(receiver))
        config = {
            "destinations": {
                name: destination(r.url, **per_destination.get(name, {}))
                for name, r in receivers.items()
            }
        }
        write_integrations(settings.config, config)  # for the CLI in the same test
        integrations = load_integrations(settings.config)
        topology = build_topology(settings, integrations)
        base = await stack.enter_async_context(running(PUBLISHER, settings, topology, integrations))
        connection = await stack.enter_async_context(
            connected(settings.broker_url.get_secret_value())
        )
        publisher = await emitter_for(connection)

        async def publish(n: int) -> list[str]:
            events = [await publisher.publish(sample_order(f"ord_{i}")) for i in range(n)]
            return [e.id for e in events]

        publish.connection = connection  # type: ignore[attr-defined]
        publish.base = base  # type: ignore[attr-defined]
        yield publish


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_SECRET", SECRET)


async def test_every_subscriber_gets_each_event_once_signed(settings: Settings) -> None:
    receivers = {
        "partner": Receiver(SECRET),
        "analytics": Receiver(SECRET),
        "other": Receiver(SECRET),
    }
    async with yard(
        settings, receivers, other={"events": ["email.*.v1"]}, analytics={"policy": "best-effort"}
    ) as publish:
        ids = await publish(5)
        await eventually(
            lambda: len(receivers["partner"].hits) == 5 and len(receivers["analytics"].hits) == 5
        )
        await asyncio.sleep(0.5)
    for name in ("partner", "analytics"):
        receiver = receivers[name]
        assert receiver.unique == dict.fromkeys(ids, 1)
        assert receiver.verified
        assert {hit.idempotency_key for hit in receiver.hits} == set(ids)
        assert receiver.hits[0].body["type"] == "order.created"
    assert receivers["other"].hits == []


async def test_rotation_signs_with_every_secret(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_OLD", OLD_SECRET)
    receivers = {"new": Receiver(SECRET), "old": Receiver(OLD_SECRET)}
    both = {"secrets": ["PARTNER_SECRET", "PARTNER_OLD"]}
    async with yard(settings, receivers, new=both, old=both) as publish:
        await publish(1)
        await eventually(lambda: receivers["new"].hits and receivers["old"].hits)
    assert receivers["new"].verified
    assert receivers["old"].verified
    assert len(receivers["new"].hits[0].headers["webhook-signature"].split()) == 2


async def test_500_climbs_the_ladder_then_parks_with_the_status(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET, status=500)}
    async with yard(settings, receivers) as publish:
        await publish(1)
        connection = publish.connection  # type: ignore[attr-defined]
        parked = "publisher.dest.partner.parked"
        await eventually(lambda: queue_depth(connection, parked), timeout=20)
        [message] = await drain(connection, parked)
    assert len(receivers["partner"].hits) == 1 + len(settings.retry.delays)
    assert message.headers[h.REASON] == "exhausted"
    assert "500" in str(message.headers[h.ERROR_MESSAGE])
    assert len(receivers["partner"].unique) == 1


async def test_an_oversized_answer_is_cut_off_and_parked_with_the_reason(
    settings: Settings,
) -> None:
    # 64 MiB of 200 body: read whole, it would sit in the publisher's memory.
    receivers = {"partner": Receiver(SECRET, answer_bytes=64 * 1024 * 1024)}
    async with yard(settings, receivers, partner={"max_response_bytes": 4096}) as publish:
        await publish(1)
        connection = publish.connection  # type: ignore[attr-defined]
        parked = "publisher.dest.partner.parked"
        await eventually(lambda: queue_depth(connection, parked), timeout=20)
        [message] = await drain(connection, parked)
    assert len(receivers["partner"].hits) == 1  # a body too big now is too big on every retry
    assert message.headers[h.REASON] == "permanent"
    assert "body over the 4096-byte max_response_bytes" in str(message.headers[h.ERROR_MESSAGE])


async def test_410_disables_the_destination_until_enabled(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET, status=410)}
    async with yard(settings, receivers) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        parked = "publisher.dest.partner.parked"
        await publish(1)
        await eventually(lambda: queue_depth(connection, parked))
        await publish(1)
        await eventually(lambda: _depth_is(connection, parked, 2))
        listed = await asyncio.to_thread(eventyard, settings, "destinations")
        reasons = sorted(str(m.headers[h.REASON]) for m in await drain(connection, parked))
        enabled = await asyncio.to_thread(eventyard, settings, "destinations", "enable", "partner")
        after = await asyncio.to_thread(eventyard, settings, "destinations")
    assert reasons == ["disabled", "gone"]
    assert len(receivers["partner"].hits) == 1  # the second delivery never left
    assert listed.returncode == 0, listed.stderr
    assert "disabled" in listed.stdout
    assert "410" in listed.stdout
    assert enabled.returncode == 0, enabled.stderr
    assert "disabled" not in after.stdout.split("\n", 1)[1]


async def test_429_retry_after_is_respected(settings: Settings) -> None:
    slow_ladder = settings.model_copy(
        update={"retry": RetrySettings(delays=[0.2, 1.5, 2.0], delivery_limit=2)}
    )
    receivers = {"partner": Receiver(SECRET, script=[429], headers={"Retry-After": "1"})}
    async with yard(slow_ladder, receivers) as publish:
        await publish(1)
        await eventually(lambda: len(receivers["partner"].hits) == 2, timeout=15)
    first, second = receivers["partner"].hits
    assert second.at - first.at >= 1.0


async def test_hanging_receiver_hits_the_timeout_and_is_retried(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET, delay=5)}
    started = time.monotonic()
    async with yard(settings, receivers, partner={"timeout_seconds": 0.5}) as publish:
        await publish(1)
        await eventually(lambda: len(receivers["partner"].hits) >= 2, timeout=15)
    assert time.monotonic() - started < 15


async def test_a_hanging_destination_does_not_hold_back_a_healthy_one(settings: Settings) -> None:
    receivers = {"healthy": Receiver(SECRET), "hanging": Receiver(SECRET, delay=30)}
    async with yard(
        settings, receivers, hanging={"timeout_seconds": 10, "concurrency": 2}
    ) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        ids = await publish(100)
        await eventually(lambda: len(receivers["healthy"].hits) == 100, timeout=30)
        backlog = await queue_depth(connection, "publisher.dest.hanging")
    assert receivers["healthy"].unique == dict.fromkeys(ids, 1)
    assert len(receivers["hanging"].hits) <= 2
    assert backlog >= 95


async def _depth_is(connection: Any, name: str, n: int) -> bool:
    return await queue_depth(connection, name) == n


async def test_status_shows_only_each_destination_origin(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET)}
    # Given a webhook URL whose path and query carry a secret
    with_secret = {"url_suffix": "?token=s3cr3t-in-query"}
    async with (
        yard(settings, receivers, partner=with_secret) as publish,
        httpx.AsyncClient(timeout=5) as client,
    ):
        answer = await client.get(f"{publish.base}/destinations")  # type: ignore[attr-defined]
    [row] = answer.json()["destinations"]
    origin = receivers["partner"].url.removesuffix("/hook")
    assert row["url"] == origin
    assert "s3cr3t" not in answer.text
    assert "/hook" not in answer.text


async def test_a_best_effort_destination_gone_is_disabled_and_never_parked(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.publisher.delivery")
    receivers = {"analytics": Receiver(SECRET, status=410)}
    async with yard(settings, receivers, analytics={"policy": "best-effort"}) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        # Given a best-effort destination that answered 410 once
        await publish(1)
        await eventually(lambda: state(connection, "analytics"))
        # When two more events are published for it
        await publish(2)
        # Then they are counted as disabled and dropped: not sent, not parked, not left queued
        await eventually(lambda: _acked_is(publish, "publisher.dest.analytics", 3))
        metrics = await _metrics(publish)
        parked = await queue_depth(connection, "publisher.dest.analytics.parked")
        queued = await queue_depth(connection, "publisher.dest.analytics")
    assert len(receivers["analytics"].hits) == 1
    assert metrics[("eventyard_deliveries_total", "analytics", "best_effort_failed")] == 1
    assert metrics[("eventyard_deliveries_total", "analytics", "disabled")] == 2
    assert (parked, queued) == (0, 0)
    dropped = [r for r in caplog.records if "best-effort delivery dropped" in r.getMessage()]
    assert len(dropped) == 2
    assert {getattr(r, "destination", None) for r in dropped} == {"analytics"}


@pytest.mark.parametrize("status", [200, 500, 410])
async def test_a_best_effort_outcome_event_refused_does_not_repeat_the_post(
    settings: Settings, status: int
) -> None:
    receivers = {"analytics": Receiver(SECRET, status=status)}
    async with yard(settings, receivers, analytics={"policy": "best-effort"}) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        # Given the broker refuses every delivery.* outcome event
        await _refuse_outcome_events(connection)
        # When one event is delivered (or fails to be)
        await publish(1)
        # Then the lost report is counted, the message acked after one POST, nothing parked
        await eventually(lambda: _acked_is(publish, "publisher.dest.analytics", 1))
        metrics = await _metrics(publish)
        parked = await queue_depth(connection, "publisher.dest.analytics.parked")
        disabled = await state(connection, "analytics")
    assert len(receivers["analytics"].hits) == 1
    assert metrics[("eventyard_delivery_reports_lost_total", "analytics", None)] == 1
    assert _retried_or_parked(metrics, "publisher.dest.analytics") == 0
    assert parked == 0
    assert (disabled is not None) is (status == 410)


async def test_a_reliable_outcome_event_refused_is_retried_until_published(
    settings: Settings,
) -> None:
    receivers = {"partner": Receiver(SECRET)}
    async with yard(settings, receivers) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        channel = await connection.channel()
        outcomes = await channel.declare_queue("test.outcomes")
        await outcomes.bind("events", "delivery.#")
        # Given the broker refuses the delivery.succeeded event at first
        refusal = await _refuse_outcome_events(connection)
        [event_id] = await publish(1)
        # Then the delivery is not acked but made again (receivers dedupe by webhook-id)
        await eventually(lambda: len(receivers["partner"].hits) >= 2, timeout=10)
        # And once the broker takes outcome events again, the report is published and acked
        await refusal.delete(if_unused=False, if_empty=False)
        await eventually(lambda: _acked_is(publish, "publisher.dest.partner", 1))
        reports = [orjson.loads(m.body) for m in await drain(connection, outcomes.name)]
        parked = await queue_depth(connection, "publisher.dest.partner.parked")
    succeeded = [r for r in reports if r["type"] == "delivery.succeeded"]
    assert succeeded
    assert {r["data"]["event_id"] for r in succeeded} == {event_id}
    assert set(receivers["partner"].unique) == {event_id}
    assert parked == 0


async def _refuse_outcome_events(connection: AbstractConnection) -> Any:
    """A queue that refuses every delivery.* event, so their publishes are nacked."""
    channel = await connection.channel()
    queue = await channel.declare_queue(
        "test.refuse-outcomes", arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    await queue.bind("events", "delivery.#")
    return queue


Samples = dict[tuple[str, str, str | None], float]


async def _metrics(publish: Any) -> Samples:
    """The publisher's counters: (name, destination or queue, outcome) -> value."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{publish.base}/metrics")).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            where = sample.labels.get("destination") or sample.labels.get("queue", "")
            key = (sample.name, where, sample.labels.get("outcome"))
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


async def _acked_is(publish: Any, queue: str, n: int) -> bool:
    acked = (await _metrics(publish)).get(("eventyard_messages_consumed_total", queue, "acked"))
    return acked == n


def _retried_or_parked(metrics: Samples, queue: str) -> float:
    consumed = "eventyard_messages_consumed_total"
    return sum(metrics.get((consumed, queue, outcome), 0.0) for outcome in ("retried", "parked"))


async def test_a_legacy_fanout_queue_is_unbound_and_what_it_holds_is_delivered(
    settings: Settings,
) -> None:
    """An upgraded broker's `publisher.fanout` stops collecting and is drained, nothing twice."""
    async with connected(settings.broker_url.get_secret_value()) as connection:
        channel = await connection.channel()
        events = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        legacy = WorkQueue(LEGACY_FANOUT_QUEUE)
        queue = await channel.declare_queue(
            legacy.name,
            durable=True,
            arguments=work_queue_arguments(legacy, settings.retry.delivery_limit),
        )
        await queue.bind(events, "order.*.v1")
        held = await (await emitter_for(connection)).publish(sample_order("ord_held"))
        assert await queue_depth(connection, legacy.name) == 1
        receivers = {"partner": Receiver(SECRET)}
        async with yard(settings, receivers) as publish:
            new = await publish(2)
            await eventually(lambda: len(receivers["partner"].hits) == 3)
            await asyncio.sleep(0.5)
            assert await queue_depth(connection, legacy.name) == 0
        await queue.delete(if_unused=False, if_empty=False)
    assert receivers["partner"].unique == dict.fromkeys([held.id, *new], 1)


async def test_two_publisher_processes_share_a_destinations_rate_limit(settings: Settings) -> None:
    """Two publishers, EVENTYARD_REPLICAS=2: the destination sees its limit, not twice it."""
    limit, count, replicas = 10, 50, 2
    receiver = Receiver(SECRET)
    shared = settings.model_copy(update={"replicas": replicas})
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(receiver))
        partner = destination(receiver.url, rate_limit_per_second=limit)
        config = {"destinations": {"partner": partner}}
        write_integrations(settings.config, config)
        integrations = load_integrations(settings.config)
        topology = build_topology(settings, integrations)
        for _ in range(replicas):
            await stack.enter_async_context(running(PUBLISHER, shared, topology, integrations))
        connection = await stack.enter_async_context(
            connected(settings.broker_url.get_secret_value())
        )
        emitter = await emitter_for(connection)
        for i in range(count):
            await emitter.publish(sample_order(f"ord_{i}"))
        await eventually(lambda: len(receiver.hits) == count, timeout=30)
    # Past the first second (each process's limiter starts with a full bucket), the pace is
    # the destination's limit; each process alone would be allowed all of it.
    times = sorted(hit.at for hit in receiver.hits)
    steady = [t for t in times if t >= times[0] + 1.0]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate <= limit * 1.25, f"{rate:.1f}/s to a destination limited to {limit}/s"
