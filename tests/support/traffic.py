"""Signed webhooks into intake, sent the way a real sender does: retried until accepted."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import orjson

from tests.support import signing
from tests.support.events import sample_order

ACCEPTED = (200, 202)
RETRIED = (429, 502, 503, 504)


def order_paid(order_id: str) -> bytes:
    """A shop's `order.paid` webhook body (intake maps it to `order.created.v1`)."""
    data = sample_order(order_id).model_dump(mode="json")
    return orjson.dumps({"type": "order.paid", "data": data})


@dataclass
class WebhookSender:
    """Sends `order.paid` webhooks to one source; retries 503s and broken connections.

    `accepted` maps each webhook id to the event id intake answered with (202 or a 200 for a
    repeat): the messages intake promised are stored. `answers` counts every status seen
    ("error" for a transport failure), so a test can show the 503s a fault caused.
    """

    intake_url: str
    secret: str
    source: str = "shop"
    give_up_after: float = 90.0
    accepted: dict[str, str] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    refused: dict[str, int] = field(default_factory=dict)

    async def send(self, client: httpx.AsyncClient, webhook_id: str, *, retry: bool = True) -> int:
        """POST one webhook (same id on every retry); the final status, 0 if none came."""
        body = order_paid(f"ord_{webhook_id}")
        deadline = time.monotonic() + self.give_up_after
        pause = 0.2
        while True:
            headers = signing.standard_webhooks(self.secret, body, webhook_id)
            headers["content-type"] = "application/json"
            status = 0
            try:
                answer = await client.post(
                    f"{self.intake_url}/webhooks/{self.source}", content=body, headers=headers
                )
                status = answer.status_code
                self.answers[str(status)] += 1
                if status in ACCEPTED:
                    self.accepted[webhook_id] = str(answer.json()["event_id"])
                    return status
            except httpx.TransportError:
                self.answers["error"] += 1
            if status and status not in RETRIED:
                self.refused[webhook_id] = status
                return status
            if not retry or time.monotonic() > deadline:
                return status
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 2.0)

    async def stream(
        self, prefix: str, count: int, per_second: float, *, concurrency: int = 32
    ) -> None:
        """Send `count` webhooks at about `per_second`, each retried on its own until accepted."""
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=15) as client:

            async def one(n: int) -> None:
                async with gate:
                    await self.send(client, f"{prefix}-{n:05d}")

            tasks = []
            for n in range(count):
                tasks.append(asyncio.create_task(one(n)))
                await asyncio.sleep(1 / per_second)
            await asyncio.gather(*tasks)

    @property
    def event_ids(self) -> set[str]:
        """The event ids of every accepted webhook."""
        return set(self.accepted.values())
