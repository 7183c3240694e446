"""What the console's tests share: its token, settings that leave the failure pages alone,
parked messages in one failure group, and the wait for health's first round."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractConnection

from shared import headers as h
from shared.publishing import build_event, event_message
from shared.settings import ConsoleSettings, HealthSettings, Settings
from tests.support.events import sample_order

TOKEN = "console-token-for-tests-0123"
ANSWERS = {"capability": "c", "dependency": "d", "on_failure": "f", "criticality": "low"}
CRM = "order-followup.crm"


def console_settings(settings: Settings, *, token: str | None = None) -> Settings:
    """One round of checks, then none while the pages are read: a round peeks parked queues,
    and a peeked message is not there for the failures page (or a replay) to read at that
    moment. With `token`, the console's actions are on."""
    update: dict[str, object] = {"health": HealthSettings(interval_seconds=600)}
    if token is not None:
        update["console"] = ConsoleSettings(token=token)
    return settings.model_copy(update=update)


async def park_rejected_orders(connection: AbstractConnection, count: int) -> None:
    """`count` orders the CRM refused (422) on their first attempt, parked on the CRM step's
    parked queue: one failure group, whose first line is `crm returned <n> for <id>`."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        for n in range(count):
            parked = event_message(build_event(sample_order(f"ord_{n}"), source="tests"))
            parked.headers = {
                h.REASON: "permanent",
                h.ERROR_TYPE: "HttpPermanentError",
                h.ERROR_MESSAGE: f"crm returned 422 for ord_{n}x",
                h.ATTEMPTS: 1,
            }
            await channel.default_exchange.publish(parked, routing_key=f"{CRM}.parked")
    finally:
        await channel.close()


async def first_round_done(client: httpx.AsyncClient) -> bool:
    """The health service finished its first round of checks."""
    return (await client.get("/health")).json()["checked_at"] is not None


async def health_counts_parked(client: httpx.AsyncClient, queue: str, count: int) -> bool:
    """health's last round counted `count` messages parked for this work queue."""
    components = (await client.get("/health")).json()["components"]
    return bool(components.get(f"queue:{queue}", {}).get("parked") == count)
