"""Poison messages: one the handler refuses, one that kills its worker. Parked, never looping.

Both run against a throwaway vhost on the main broker. The parked copy must keep the body and
the producer's headers and properties, and gain the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from contracts.orders import OrderCreatedV1
from shared import headers as h
from shared.publishing import build_event, event_message
from shared.settings import RetrySettings
from shared.topology import Topology, WorkQueue, declare
from tests.faults.report import Report
from tests.faults.world import fault_settings, order_world
from tests.support.events import connected, queue_depth, sample_order
from tests.support.processes import service_environment
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

PRODUCER_HEADERS = {"x-producer": "fault-suite", "x-trace-id": "trace-0123"}


def poison(body: bytes, message_id: str, **properties: Any) -> aio_pika.Message:
    """A persistent message with the producer's own headers and properties."""
    return aio_pika.Message(
        body,
        headers=dict(PRODUCER_HEADERS),
        message_id=message_id,
        correlation_id=f"corr-{message_id}",
        app_id="fault-suite",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **properties,
    )


async def parked_copy(connection: AbstractConnection, queue: str) -> AbstractIncomingMessage:
    """The head of a parked queue, as delivered (left in the queue)."""
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        message = await declared.get(no_ack=False, fail=True)
        assert message is not None
        return message
    finally:
        with contextlib.suppress(Exception):
            await channel.close()  # returns the message to the parked queue


def assert_kept(copy: AbstractIncomingMessage, sent: aio_pika.Message) -> Mapping[str, Any]:
    """The parked copy has the body, properties and producer headers it was sent with."""
    assert copy.body == sent.body
    assert copy.message_id == sent.message_id
    assert copy.correlation_id == sent.correlation_id
    assert copy.app_id == sent.app_id
    assert copy.content_type == sent.content_type
    assert copy.type == sent.type
    headers = copy.headers or {}
    for name, value in PRODUCER_HEADERS.items():
        assert h.text(headers.get(name)) == value, headers
    return headers


@pytest.fixture
async def connection(broker_url: str) -> AsyncIterator[AbstractConnection]:
    """The test's own connection to its vhost."""
    async with connected(broker_url) as opened:
        yield opened


async def test_message_the_handler_refuses_is_parked_at_once_with_body_and_headers(
    broker_url: str, tmp_path: Path, connection: AbstractConnection, report: Report
) -> None:
    """intake refuses a dropped order without its required fields: parked after one attempt."""
    settings = fault_settings(broker_url, tmp_path)
    async with order_world(settings, tmp_path, services=("intake",)) as world:
        # Given a producer drops an order.created.v1 payload missing every required field
        sent = poison(
            b'{"currency": "EUR"}',
            "poison-refused",
            content_type="application/json",
            type=OrderCreatedV1.key(),
        )
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(sent, routing_key="intake")

        # Then it is parked with the reason, once
        await eventually(lambda: queue_depth(connection, "intake.parked"), timeout=20)
        await asyncio.sleep(1.0)  # a loop would show as more copies or more attempts by now
        assert await queue_depth(connection, "intake.parked") == 1
        assert await queue_depth(connection, "intake") == 0
        copy = await parked_copy(connection, "intake.parked")
        headers = assert_kept(copy, sent)
        assert h.text(headers.get(h.REASON)) == "contract"
        assert h.integer(headers.get(h.ATTEMPTS)) == 1
        assert "order_id" in (h.text(headers.get(h.ERROR_MESSAGE)) or "")
        assert "x-death" not in headers  # never went round the ladder
        # And intake is still ready
        assert await world.services["intake"].ready()
        report.add(accepted=1, delivered=0, note="parked 'contract' after 1 attempt, kept body")


async def test_message_that_kills_its_worker_is_parked_by_the_delivery_limit(
    broker_url: str, tmp_path: Path, connection: AbstractConnection, report: Report
) -> None:
    """A worker dies on the message every time: the broker parks it after limit + 1 tries."""
    limit = 2
    retry = RetrySettings(delays=[0.2], delivery_limit=limit)
    settings = fault_settings(broker_url, tmp_path, retry=retry)
    queue = WorkQueue("faults.crashy", (OrderCreatedV1.key(),))
    await declare(await connection.channel(), Topology((queue,), (0.2,), limit))
    # Given a valid event on a queue whose worker dies on it (before any ack)
    event = build_event(sample_order("ord_poison"), source="fault-suite")
    sent = event_message(event, PRODUCER_HEADERS)
    channel = await connection.channel(publisher_confirms=True)
    await channel.default_exchange.publish(sent, routing_key=queue.name)

    # When a supervisor keeps restarting the worker
    env = service_environment(settings)
    runs = 0
    while await queue_depth(connection, queue.parked) == 0:
        assert runs <= limit + 1, "the message is looping"
        runs += 1
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.support.crash_worker", queue.name],
            env=env,
            start_new_session=True,
        )
        try:
            code = await asyncio.wait_for(asyncio.to_thread(worker.wait), 30)
        except TimeoutError:
            break  # it had nothing to crash on: the broker parked the message meanwhile
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        assert code == 3
        await asyncio.sleep(0.2)
    await eventually(lambda: queue_depth(connection, queue.parked), timeout=20)

    # Then the broker parked it after limit + 1 deliveries, with the body and headers kept
    assert runs == limit + 1
    assert await queue_depth(connection, queue.name) == 0
    copy = await parked_copy(connection, queue.parked)
    headers = assert_kept(copy, sent)
    assert h.text(h.deaths(headers)[0].get("reason")) == "delivery_limit"
    report.add(
        accepted=1,
        delivered=0,
        note=f"worker died {runs} times, then parked by the broker ('delivery_limit')",
    )
