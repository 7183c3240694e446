"""A cancelled order refunded through the payment adapter on a real broker and a real HTTP
stand-in: a 503 climbs the ladder and the retry asks with the same idempotency key; a refusal
is parked with the provider's error in the yard's words."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import orjson
from aio_pika.abc import AbstractIncomingMessage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contracts.envelope import utc_now
from contracts.orders import OrderCancelledV1, OrderRefundedV1
from services.order_followup.app import DEFINITION as ORDER_FOLLOWUP
from services.order_followup.steps import step_queue
from shared import headers as h
from shared.config import IntegrationsFile
from shared.publishing import build_event
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, Topology
from tests.support.events import connected, emitter_for
from tests.support.services import free_port, running
from tests.support.waiting import eventually
from tests.support.yard_http import served

ALREADY_REFUNDED = {
    "error": {
        "code": "charge_already_refunded",
        "message": "Charge ch_3Kd81Lq has already been refunded.",
        "type": "invalid_request_error",
    }
}
CAPTURE = "tests.refunds"


class Provider:
    """`POST /v1/refunds`: answers each payment's next scripted status, remembering the keys."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.script = script
        self.calls: list[tuple[str, str]] = []  # (payment, idempotency key)

    def app(self) -> Starlette:
        async def refund(request: Request) -> Response:
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            form = parse_qs((await request.body()).decode())
            payment = form["payment_intent"][0]
            self.calls.append((payment, request.headers["idempotency-key"]))
            status = self.script[payment].pop(0)
            if status == 400:
                return JSONResponse(ALREADY_REFUNDED, status_code=400)
            if status != 200:
                return JSONResponse({"error": {"type": "api_error"}}, status_code=status)
            return JSONResponse({"id": f"re_{payment}", "object": "refund", "status": "succeeded",
                                 "amount": int(form["amount"][0]), "currency": "eur"})  # fmt: skip

        return Starlette(routes=[Route("/v1/refunds", refund, methods=["POST"])])


def cancelled(payment: str) -> OrderCancelledV1:
    return OrderCancelledV1(order_id=f"ord_{payment}", payment_id=payment, currency="EUR",
                            refund_minor=1798, cancelled_at=utc_now())  # fmt: skip


async def test_a_refund_retries_on_a_5xx_with_one_key_and_parks_a_refusal(
    settings: Settings,
) -> None:
    provider = Provider({"pi_late": [503, 200], "pi_done": [400]})
    async with served(provider.app(), free_port(), abandon=True) as url:
        file = IntegrationsFile.model_validate({"integrations": {"pay": {
            "base_url": url, "payments": "stripe", "allow_private_network": True,
            "max_retries": 0, "capability": "refunds", "dependency": "the payment provider",
            "on_failure": "refunds wait on the ladder", "criticality": "high",
        }}})  # fmt: skip
        queue = step_queue("pay", file.integrations["pay"])
        topology = Topology((queue,), tuple(settings.retry.delays), 2)
        async with (
            connected(settings.broker_url.get_secret_value()) as connection,
            running(ORDER_FOLLOWUP, settings, topology, file),
        ):
            channel = await connection.channel()
            capture = await channel.declare_queue(CAPTURE, auto_delete=False)
            await capture.bind(EVENTS_EXCHANGE, OrderRefundedV1.key())
            emitter = await emitter_for(connection)
            late = build_event(cancelled("pi_late"), source="/shop")
            await emitter.publish_event(late)
            await emitter.publish(cancelled("pi_done"))
            refunded: list[dict[str, Any]] = []

            async def arrived() -> bool:
                while (message := await capture.get(no_ack=True, fail=False)) is not None:
                    refunded.append(orjson.loads(message.body)["data"])
                return bool(refunded)

            await eventually(arrived, timeout=15)
            parked = await channel.declare_queue(queue.parked, passive=True)
            found: list[AbstractIncomingMessage] = []

            async def parked_one() -> bool:
                if (message := await parked.get(no_ack=True, fail=False)) is not None:
                    found.append(message)
                return bool(found)

            await eventually(parked_one, timeout=15)
            await asyncio.sleep(0.5)  # nothing else arrives
            await capture.delete(if_unused=False, if_empty=False)
    assert [r["refund_id"] for r in refunded] == ["re_pi_late"]
    assert refunded[0]["amount_minor"] == 1798
    assert provider.calls.count(("pi_late", late.id)) == 2  # the ladder's retry, the same key
    assert [p for p, _ in provider.calls].count("pi_done") == 1  # a refusal is never retried
    headers = found[0].headers
    assert (headers[h.REASON], headers[h.ATTEMPTS]) == ("permanent", 1)
    assert "pay refused the refund: already_refunded" in str(headers[h.ERROR_MESSAGE])
