"""The order flow the fault cases drive: shop webhooks in, partner / CRM / warehouse calls out.

A signed `order.paid` webhook becomes `order.created.v1` in intake; the publisher delivers it to
the `partner` destination, and order-followup calls the CRM and the warehouse. Each of the
three is a local Receiver, and each acts on the event id (`Idempotency-Key` / `webhook-id`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aio_pika.abc import AbstractConnection
from pydantic import SecretStr

from shared.parking import ParkedMessage, depth, peek
from shared.settings import RetrySettings, Settings
from tests.faults.report import Report
from tests.support.events import drain, emitter_for, sample_order
from tests.support.ledger import Tally, tally
from tests.support.processes import ServiceProcess, service_environment, services_running
from tests.support.receiver import Hit, Receiver, serving
from tests.support.toml import write_integrations
from tests.support.traffic import WebhookSender

SHOP_SECRET = "whsec_" + base64.b64encode(b"faults-shop-secret-0123456789").decode()
PARTNER_SECRET = "whsec_" + base64.b64encode(b"faults-partner-secret-012345").decode()
SECRETS = {"SHOP_SECRET": SHOP_SECRET, "PARTNER_SECRET": PARTNER_SECRET}
ORDER_SERVICES = ("intake", "publisher", "order-followup")
WORK_QUEUES = (
    "intake",
    "publisher.dest.partner",
    "order-followup.crm",
    "order-followup.warehouse",
    "order-followup.confirmation",
)
FAST_LADDER = [0.2, 0.4, 0.6]


def fault_settings(broker_url: str, workdir: Path, **overrides: Any) -> Settings:
    """Settings for services under fault: fast ladder, short timeouts, heartbeat 2 s."""
    values: dict[str, Any] = {
        "broker_url": SecretStr(broker_url),
        "retry": RetrySettings(delays=FAST_LADDER, delivery_limit=4),
        "config": workdir / "eventyard.toml",
        "graceful_timeout_seconds": 10.0,
        "publish_timeout_seconds": 3.0,
        "heartbeat_seconds": 2,
        "prefetch": 20,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def order_config(
    crm: Receiver,
    warehouse: Receiver,
    partner: Receiver,
    *,
    partner_concurrency: int = 10,
    partner_breaker_open_seconds: float = 30.0,
) -> dict[str, Any]:
    """The integrations file of the order flow, every endpoint a local Receiver."""
    return {
        "sources": {
            "shop": {
                "scheme": "standard-webhooks",
                "secrets": ["SHOP_SECRET"],
                "map": {"order.paid": "order.created.v1"},
            }
        },
        "destinations": {
            "partner": {
                "url": partner.url,
                "events": ["order.created.v1"],
                "secrets": ["PARTNER_SECRET"],
                "allow_private_network": True,
                "concurrency": partner_concurrency,
                "rate_limit_per_second": 1000,
                "breaker": {"open_seconds": partner_breaker_open_seconds},
            }
        },
        "integrations": {
            name: {
                "base_url": receiver.base,
                "allow_private_network": True,
                "max_retries": 0,
                "rate_limit_per_second": 1000,
            }
            for name, receiver in (("crm", crm), ("warehouse", warehouse))
        },
    }


@dataclass
class OrderWorld:
    """Receivers, the services as processes, and a webhook sender aimed at intake."""

    settings: Settings
    receivers: dict[str, Receiver]
    services: dict[str, ServiceProcess]
    sender: WebhookSender
    workdir: Path
    published: set[str] = field(default_factory=set)

    @property
    def partner(self) -> Receiver:
        """The publisher's destination."""
        return self.receivers["partner"]

    @property
    def routes(self) -> dict[str, Receiver]:
        """The receivers the running services deliver to ("email": the email.send queue)."""
        served = {
            "partner": "publisher",
            "crm": "order-followup",
            "warehouse": "order-followup",
            "email": "order-followup",
        }
        return {n: r for n, r in self.receivers.items() if served[n] in self.services}

    @property
    def accepted(self) -> set[str]:
        """Event ids intake answered 202 for, and ids of confirmed direct publishes."""
        return self.sender.event_ids | self.published

    def tally(self) -> Tally:
        """Everything accepted against every receiver it routes to."""
        timed = {"partner", "crm", "warehouse"}  # the mail route is read late, from its queue
        return tally(self.accepted, self.routes, timed=timed)

    async def publish_orders(
        self, connection: AbstractConnection, prefix: str, count: int, per_second: float
    ) -> None:
        """Publish `order.created.v1` events with the project's publish API, each confirmed."""
        publisher = await emitter_for(connection)
        for n in range(count):
            event = await publisher.publish(sample_order(f"{prefix}-{n:04d}"))
            self.published.add(event.id)
            await asyncio.sleep(1 / per_second)

    async def collect_mail(self, connection: AbstractConnection) -> None:
        """Move the confirmation step's `email.requested.v1` events into the "email" route.

        The email service does not run here: its queue is where the confirmation step's
        work lands. Each request counts as a hit keyed by the order event that caused it.
        """
        mailbox = self.receivers["email"]
        for message in await drain(connection, "email.send"):
            cause = orjson.loads(message.body).get("causationid")
            mailbox.hits.append(Hit(time.monotonic(), None, cause, True, None, {}, status=200))

    async def settle(self, connection: AbstractConnection, timeout: float = 120.0) -> Tally:
        """Wait until every route has everything accepted (mail included).

        The bound is generous: a copy the broker did not confirm during an outage is held and
        sent again after pauses that double up to 30 s, and a cluster that lost its majority
        takes a while to take writes again on a loaded machine. It returns as soon as nothing
        is missing.

        Stops early once whatever is still missing sits in a parked queue and nothing has
        arrived for 3 s (parked messages stay parked); otherwise after `timeout`.
        """
        deadline = time.monotonic() + timeout
        delivered, since = -1, time.monotonic()
        while True:
            if "order-followup" in self.services:
                await self.collect_mail(connection)
            counted = self.tally()
            if counted.lost == 0 or time.monotonic() > deadline:
                return counted
            if counted.delivered != delivered:
                delivered, since = counted.delivered, time.monotonic()
            elif time.monotonic() - since > 3.0:
                missing = {key for keys in counted.missing.values() for key in keys}
                parked = await parked_messages(connection)
                if missing <= {m.message_id for ms in parked.values() for m in ms}:
                    return counted
            await asyncio.sleep(0.25)

    def logs(self) -> str:
        """The end of every service's log, for a failure message."""
        return "\n".join(f"== {n}\n{p.log_tail(2500)}" for n, p in self.services.items())


@asynccontextmanager
async def order_world(
    settings: Settings,
    workdir: Path,
    *,
    services: Sequence[str] = ORDER_SERVICES,
    receiver_delay: float = 0.0,
    partner_concurrency: int = 10,
    partner_breaker_open_seconds: float = 30.0,
    dedupe: bool = False,
) -> AsyncIterator[OrderWorld]:
    """Start the receivers and the services (as processes); stop them all at the end.

    `dedupe`: the receivers act only on a key they have not acted on (as a real partner).
    """
    receivers = {
        "partner": Receiver(secret=PARTNER_SECRET, delay=receiver_delay, dedupe=dedupe),
        "crm": Receiver(delay=receiver_delay, dedupe=dedupe),
        "warehouse": Receiver(delay=receiver_delay, dedupe=dedupe),
    }
    mailbox = Receiver()  # not served: filled from the email.send queue by `collect_mail`
    async with AsyncExitStack() as stack:
        for receiver in receivers.values():
            await stack.enter_async_context(serving(receiver))
        config = order_config(
            receivers["crm"],
            receivers["warehouse"],
            receivers["partner"],
            partner_concurrency=partner_concurrency,
            partner_breaker_open_seconds=partner_breaker_open_seconds,
        )
        write_integrations(settings.config, config)
        env = service_environment(settings, **SECRETS)
        processes = await stack.enter_async_context(services_running(services, env, workdir))
        intake = processes["intake"].url if "intake" in processes else ""
        sender = WebhookSender(intake, SHOP_SECRET)
        yield OrderWorld(settings, {**receivers, "email": mailbox}, processes, sender, workdir)


async def parked_messages(connection: AbstractConnection) -> dict[str, list[ParkedMessage]]:
    """Every message in each work queue's parked queue (only queues that hold any)."""
    found = {}
    for queue in WORK_QUEUES:
        parked = f"{queue}.parked"
        counted = await depth(connection, parked)
        if counted and counted[0]:
            found[parked] = await peek(connection, parked, counted[0] + 100)
    return found


async def verify_delivery(
    world: OrderWorld,
    connection: AbstractConnection,
    report: Report,
    note: str | Callable[[Tally], str] = "",
) -> Tally:
    """Assert nothing accepted is lost and nothing is parked; record the case's report row.

    A message neither delivered nor parked has vanished: that always fails. So does a healthy
    message parked by the broker's delivery limit: before the publish path waited for its
    channel after a reconnect, handlers failed, looped and were parked that way.
    """
    counted = await world.settle(connection)
    parked = await parked_messages(connection)
    reasons = Counter(m.reason for messages in parked.values() for m in messages)
    parked_ids = {m.message_id for messages in parked.values() for m in messages}
    missing = {key for keys in counted.missing.values() for key in keys}
    vanished = missing - parked_ids
    summary = {queue: len(messages) for queue, messages in parked.items()}
    extra = f"; parked {summary} by {dict(reasons)}" if parked else ""
    text = note(counted) if callable(note) else note
    report.tally(counted, note=text + extra)
    assert not vanished, f"neither delivered nor parked: {counted.explain()}{extra}\n{world.logs()}"
    assert counted.lost == 0, f"{counted.explain()}{extra}\n{world.logs()}"
    assert parked == {}, f"parked although nothing was wrong with them{extra}"
    return counted
