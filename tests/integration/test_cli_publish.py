"""`eventyard publish` stores valid events and refuses bad input with exit 2."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from contracts.orders import OrderCreatedV1
from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import connected, drain, queue_depth, sample_order

CRM_QUEUE = "order-followup.crm"


@pytest.fixture
async def applied(settings: Settings) -> Settings:
    result = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert result.returncode == 0, result.stderr
    return settings


async def test_valid_payload_is_confirmed_and_stored(applied: Settings, tmp_path: object) -> None:
    payload = sample_order("ord_cli").model_dump_json().encode()
    result = await asyncio.to_thread(
        eventyard, applied, "publish", "order.created.v1", "-", stdin=payload
    )
    assert result.returncode == 0, result.stderr
    event_id = result.stdout.strip()
    async with connected(applied.broker_url.get_secret_value()) as connection:
        [message] = await drain(connection, CRM_QUEUE)
    assert message.message_id == event_id
    event = orjson.loads(message.body)
    assert event["type"] == "order.created"
    assert event["dataschema"] == OrderCreatedV1.dataschema()
    assert event["data"]["order_id"] == "ord_cli"


@pytest.mark.parametrize(
    ("args", "stdin", "reason"),
    [
        (["order.created.v1", "-"], b"{not json", "not valid JSON"),
        (["order.created.v9", "-"], b"{}", "no contract for order.created.v9"),
        (["order.created", "-"], b"{}", "is not TYPE.vN"),
        (["order.created.v1", "/no/such/file.json"], None, "no such file"),
        (
            ["order.created.v1", "-"],
            b'{"order_id": "", "currency": "euro"}',
            "order_id: String should have at least 1 character",
        ),
    ],
)
async def test_bad_input_exits_2_and_publishes_nothing(
    applied: Settings, args: list[str], stdin: bytes | None, reason: str
) -> None:
    result = await asyncio.to_thread(eventyard, applied, "publish", *args, stdin=stdin)
    assert result.returncode == 2
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    async with connected(applied.broker_url.get_secret_value()) as connection:
        assert await queue_depth(connection, CRM_QUEUE) == 0


async def test_every_invalid_field_is_named(applied: Settings) -> None:
    result = await asyncio.to_thread(
        eventyard,
        applied,
        "publish",
        "order.created.v1",
        "-",
        stdin=b'{"currency": "euro", "customer": {}, "lines": [{}]}',
    )
    assert result.returncode == 2
    fields = ("order_id", "customer.id", "customer.email", "customer.name", "lines.0.sku")
    for field in (*fields, "lines.0.quantity", "currency", "total_minor", "shipping_address"):
        assert f"{field}: " in result.stderr
    assert "more" not in result.stderr


async def test_unreachable_broker_exits_1(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"broker_url": type(settings.broker_url)("amqp://guest:s3cret@127.0.0.1:1/")}
    )
    payload = sample_order().model_dump_json().encode()
    result = await asyncio.to_thread(
        eventyard, unreachable, "publish", "order.created.v1", "-", stdin=payload
    )
    assert result.returncode == 1
    assert "cannot reach the broker at amqp://guest:***@127.0.0.1:1/" in result.stderr
    assert "s3cret" not in result.stderr


async def test_missing_vhost_exits_1_saying_so(settings: Settings) -> None:
    missing = settings.model_copy(
        update={
            "broker_url": type(settings.broker_url)(
                "amqp://guest:guest@127.0.0.1:5672/eventyard-no-such-vhost"
            )
        }
    )
    result = await asyncio.to_thread(eventyard, missing, "topology", "show")
    assert result.returncode == 1
    assert "refused the connection" in result.stderr
    assert "does the vhost exist" in result.stderr
    assert "Traceback" not in result.stderr


async def test_unroutable_type_exits_1(settings: Settings) -> None:
    # No topology applied in this vhost: nothing is bound, so nothing would be stored.
    async with connected(settings.broker_url.get_secret_value()) as connection:
        channel = await connection.channel()
        await channel.declare_exchange("events", "topic", durable=True)
    payload = sample_order().model_dump_json().encode()
    result = await asyncio.to_thread(
        eventyard, settings, "publish", "order.created.v1", "-", stdin=payload
    )
    assert result.returncode == 1
    assert "no queue is bound for order.created.v1" in result.stderr
