"""The webhook bodies held across all requests are bounded, not only each one.

Bodies are read before their signature is checked, so anyone can send many large ones at once;
past the budget a request is answered 503 with Retry-After and nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import httpx
import orjson
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route

from contracts.envelope import CloudEvent
from services.intake.dedupe import Deduplicator
from services.intake.metrics import IntakeMetrics
from services.intake.routing import Parker, Router
from services.intake.sources import Source
from services.intake.webhooks import WebhookEndpoint
from shared.config import SourceConfig
from shared.http import json_app
from shared.request_body import BodyBudget
from tests.support import signing

SECRET = "whsec_" + base64.b64encode(b"budget-secret-0123456789").decode()
BODY_BYTES = 4096


class HeldRouter:
    """Publishes only when released, so the requests keep holding their bodies meanwhile."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0

    async def publish(self, event: CloudEvent[Any], door: str) -> CloudEvent[Any]:
        self.waiting += 1
        await self.release.wait()
        return event


def app(router: HeldRouter, budget: BodyBudget) -> Starlette:
    config = SourceConfig(scheme="standard-webhooks", secrets=["S"])
    endpoint = WebhookEndpoint(
        {"shop": Source("shop", config, (SECRET,))},
        router=cast(Router, router),
        parker=cast(Parker, None),
        metrics=IntakeMetrics(CollectorRegistry()),
        dedupe=Deduplicator(),
        budget=budget,
    )
    return json_app([Route("/webhooks/{source}", endpoint.handle, methods=["POST"])])


def webhook(n: int) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"type": "x", "data": {"pad": "p" * (BODY_BYTES - 40), "n": n}})
    return body, signing.standard_webhooks(SECRET, body, f"msg-{n}")


async def test_bodies_held_across_requests_are_bounded() -> None:
    router, budget = HeldRouter(), BodyBudget(2 * BODY_BYTES + 100)
    transport = httpx.ASGITransport(app=app(router, budget))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:

        async def post(n: int) -> httpx.Response:
            body, headers = webhook(n)
            return await client.post("/webhooks/shop", content=body, headers=headers)

        # Given two large webhooks still being stored
        held = [asyncio.create_task(post(n)) for n in (1, 2)]
        while router.waiting < 2:
            await asyncio.sleep(0.01)
        # When a third arrives, Then it is refused for now, and keeps nothing
        refused = await post(3)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        assert refused.json() == {"error": "too many webhooks in flight; retry shortly"}
        assert budget.held <= budget.limit
        # And once the first two are stored, the budget is whole again and the third goes in
        router.release.set()
        assert [(await task).status_code for task in held] == [202, 202]
        assert budget.held == 0
        assert (await post(3)).status_code == 202
        assert budget.held == 0
