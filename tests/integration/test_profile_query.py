"""order-followup's confirmation email, addressed with the CRM profile through a cached query:
on a real broker and a real HTTP CRM stand-in that answers, then hangs."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aio_pika.abc import AbstractConnection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contracts.emails import EmailRequestedV1
from services.order_followup.app import CONFIRMATION_QUEUE
from services.order_followup.app import DEFINITION as ORDER_FOLLOWUP
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, Topology
from tests.support.events import connected, emitter_for, sample_order
from tests.support.services import free_port, running
from tests.support.waiting import eventually
from tests.support.yard_http import served

TIMEOUT = 0.3
TTL = 0.5
CAPTURE = "tests.email-requests"


class Crm:
    """`GET /customers/{id}`: a profile at once, or nothing for a minute while `hanging`."""

    def __init__(self) -> None:
        self.hanging = False
        self.reads: list[str] = []

    def app(self) -> Starlette:
        async def profile(request: Request) -> Response:
            customer = request.path_params["customer_id"]
            self.reads.append(customer)
            if self.hanging:
                await asyncio.sleep(60)
            return JSONResponse({"name": f"{customer} from the CRM", "tier": "gold"})

        return Starlette(routes=[Route("/customers/{customer_id}", profile)])


def integrations(crm_url: str) -> IntegrationsFile:
    answers = {"capability": "c", "dependency": "d", "on_failure": "f", "criticality": "low"}
    return IntegrationsFile.model_validate(
        {
            "integrations": {
                "crm": {
                    "base_url": crm_url,
                    "allow_private_network": True,
                    "max_retries": 0,
                    "timeout_seconds": 10,
                    "reads": {
                        "profile": {
                            "path": "/customers/{customer_id}",
                            "ttl_seconds": TTL,
                            "timeout_seconds": TIMEOUT,
                            "fallback": "skip",
                            **answers,
                        }
                    },
                    **answers,
                }
            }
        }
    )


async def captured(connection: AbstractConnection, count: int) -> list[dict[str, Any]]:
    """The `data` of the first `count` email requests the capture queue holds."""
    channel = await connection.channel()
    queue = await channel.declare_queue(CAPTURE, passive=True)
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(orjson.loads(message.body)["data"])
        return len(found) >= count

    await eventually(enough, timeout=15)
    await channel.close()
    return found


async def test_the_email_goes_out_on_time_with_a_fresh_then_stale_then_no_profile(
    settings: Settings,
) -> None:
    crm = Crm()
    topology = Topology((CONFIRMATION_QUEUE,), tuple(settings.retry.delays), 2)
    url = settings.broker_url.get_secret_value()
    async with (
        served(crm.app(), free_port(), abandon=True) as crm_url,
        connected(url) as connection,
    ):
        setup = await connection.channel()
        capture = await setup.declare_queue(CAPTURE, auto_delete=False)
        async with running(ORDER_FOLLOWUP, settings, topology, integrations(crm_url)):
            await capture.bind(EVENTS_EXCHANGE, EmailRequestedV1.key())
            emitter = await emitter_for(connection)
            first = sample_order("ord_q1")
            await emitter.publish(first)
            [fresh] = await captured(connection, 1)
            assert fresh["variables"]["name"] == f"{first.customer.id} from the CRM"

            crm.hanging = True
            await asyncio.sleep(TTL + 0.1)  # the copy is expired now, and the CRM hangs
            loop = asyncio.get_running_loop()
            started = loop.time()
            await emitter.publish(sample_order("ord_q2"))  # the same customer
            [stale] = await captured(connection, 1)
            assert stale["variables"]["tier"] == "gold"  # the stale copy stood in
            other = sample_order("ord_q3").model_copy(
                update={"customer": first.customer.model_copy(update={"id": "cus_new"})}
            )
            await emitter.publish(other)
            [fallback] = await captured(connection, 1)
            # Neither email waited for the hanging CRM (60 s), only for the query's timeout.
            assert loop.time() - started < 5
            assert fallback["variables"]["name"] == first.customer.name
            assert "tier" not in fallback["variables"]
        await capture.delete(if_unused=False, if_empty=False)
    assert crm.reads[0] == first.customer.id
    assert "cus_new" in crm.reads
