"""The demo's story: what it does, and what it prints from what the broker and stand-ins saw."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import orjson

from cli.demo.mailbox import Mail
from cli.demo.observer import Seen
from cli.demo.standins import Hit, StandIns
from contracts.analytics import AnalyticsTrackedV1
from contracts.emails import EmailRequestedV1
from contracts.envelope import utc_now
from contracts.orders import OrderCreatedV1
from services.publisher.patterns import matches
from shared import headers as h
from shared.topology import Topology

Item = Hit | Seen | Mail
SCHEDULE_AHEAD_SECONDS = 4
FEEDBACK_SUBJECT = "How did we do with"  # the scheduled email's subject starts so


@dataclass
class Order:
    """One order the demo sends, and what has been seen of it."""

    order_id: str
    event_id: str | None = None  # intake's answer: the order.created.v1 event's id
    correlation: str | None = None
    seen: set[str] = field(default_factory=set)


class Narrator:
    """Prints each fact as it arrives and keeps score of what each order has reached."""

    def __init__(self, out: TextIO, topology: Topology, standins: StandIns) -> None:
        self._out = out
        self._topology = topology
        self._standins = standins
        self._started = time.monotonic()
        self.orders: dict[str, Order] = {}
        self.mails: list[Mail] = []
        self.feed: asyncio.Queue[Any] = asyncio.Queue()
        self.scheduled_for: datetime | None = None

    def say(self, text: str, mark: str = " ") -> None:
        """One timestamped line."""
        elapsed = time.monotonic() - self._started
        self._out.write(f"[{elapsed:6.2f}s] {mark} {text}\n")
        self._out.flush()

    def show(self, text: str) -> None:
        """An indented block (an email, say)."""
        for line in text.rstrip().splitlines():
            self._out.write(f"           │ {line}\n")
        self._out.flush()

    async def until(self, goal: Callable[[], bool], within: float) -> bool:
        """Narrate arriving facts until `goal()` holds; False after `within` seconds."""
        deadline = time.monotonic() + within
        while not goal():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                item = await asyncio.wait_for(self.feed.get(), remaining)
            except TimeoutError:
                return False
            self.narrate(item)
        return True

    def narrate(self, item: Item) -> None:
        """Say what one fact means."""
        if isinstance(item, Hit):
            self._hit(item)
        elif isinstance(item, Mail):
            self._mail(item)
        else:
            self._seen(item)

    def _order_of(self, order_id: Any = None, correlation: Any = None) -> Order | None:
        for order in self.orders.values():
            if order.order_id == order_id or (correlation and order.correlation == correlation):
                return order
        return None

    def _hit(self, hit: Hit) -> None:
        body = hit.body if isinstance(hit.body, dict) else {}
        if hit.standin == "crm" and hit.path.startswith("/customers/"):
            customer = hit.path.rsplit("/", 1)[-1]
            if hit.status == 200:
                self.say(f"CRM stand-in answered the profile read for {customer} (cached "
                         "for the next emails: crm.profile, ttl_seconds)", "✓")  # fmt: skip
            else:
                self.say(f"CRM stand-in is down: the profile read for {customer} got "
                         f"{hit.status}; the email goes out with a stale copy or the "
                         "fallback, within timeout_seconds", "✗")  # fmt: skip
        elif hit.standin == "crm":
            order = self._order_of(body.get("order", {}).get("order_id"))
            if hit.status == 200:
                self.say(
                    f"CRM stand-in upserted customer {body['customer']['id']} and order "
                    f"{body['order']['order_id']} (Idempotency-Key {hit.idempotency_key})",
                    "✓",
                )
                self._mark(order, "crm")
            else:
                self.say(
                    f"CRM stand-in is down: answered {hit.status} to the sync of "
                    f"{body.get('order', {}).get('order_id')}",
                    "✗",
                )
                self._mark(order, "crm_failed")
        elif hit.standin == "payments":
            order = self._order_of(str(body.get("payment_intent", "")).removeprefix("pi_"))
            self.say(f"payment stand-in refunded {body.get('amount')} minor units of "
                     f"{body.get('payment_intent')} (Idempotency-Key {hit.idempotency_key}: the "
                     "event id, so a retry can never refund twice)", "✓")  # fmt: skip
            self._mark(order, "refund_called")
        elif hit.standin == "analytics":
            order = self._order_of((body.get("properties") or {}).get("order_id"))
            self.say(f"analytics stand-in got track {body.get('event')!r} for "
                     f"{body.get('userId')} (messageId {body.get('messageId')}): sent once, "
                     "never retried", "✓")  # fmt: skip
            self._mark(order, "analytics")
        elif hit.standin == "warehouse":
            self.say(
                f"warehouse stand-in got the shipment for {body.get('order_id')} "
                f"(Idempotency-Key {hit.idempotency_key})",
                "✓",
            )
            self._mark(self._order_of(body.get("order_id")), "warehouse")
        else:
            verdict = "signature verified" if hit.verified else "SIGNATURE DID NOT VERIFY"
            self.say(
                f"partner stand-in received {body.get('type')} (webhook-id {hit.webhook_id}):"
                f" {verdict}",
                "✓" if hit.verified else "✗",
            )
            order = self._order_of(correlation=body.get("correlationid"))
            if hit.verified and body.get("type") == "order.created":
                self._mark(order, "partner")

    def _mail(self, mail: Mail) -> None:
        self.mails.append(mail)
        self.say(f"email rendered and sent by the console provider to {mail.to}:", "✓")
        self.show(f"Subject: {mail.subject}\n\n{mail.text}")
        scheduled = mail.subject.startswith(FEEDBACK_SUBJECT)
        if scheduled and self.scheduled_for is not None:
            self.say(f"sent at {utc_now():%H:%M:%S}, scheduled for "
                     f"{self.scheduled_for:%H:%M:%S}: it waited on the retry ladder's rungs "
                     "(so at or after its time, within the shortest rung)", "✓")  # fmt: skip
        for order in self.orders.values():
            if order.order_id in mail.subject:
                self._mark(order, "scheduled_mail" if scheduled else "mail")

    def _seen(self, seen: Seen) -> None:
        event, data = seen.event, seen.event.get("data") or {}
        if seen.kind == "retry" and seen.headers.get(h.DEFERRALS):
            self.say(
                f"{seen.routing_key}: not due yet; the broker holds it on {seen.exchange} "
                "(no attempt used) and then returns it",
                "⏳",
            )
            return
        if seen.kind == "retry":
            self.say(
                f"{seen.routing_key}: attempt {seen.headers.get('x-eventyard-attempts')} "
                f"failed ({seen.headers.get('x-eventyard-error')}); the broker holds it on "
                f"{seen.exchange} and then returns it to {seen.routing_key}",
                "↻",
            )
            return
        kind = event.get("type", "?")
        if kind == "order.created":
            order = self._order_of(data.get("order_id"))
            if order is not None:
                order.correlation = event.get("correlationid")
            queues = [
                q.name
                for q in self._topology.queues
                if any(matches(b, seen.routing_key) for b in q.bindings)
            ]
            self.say(
                f"broker: {seen.routing_key} (event {event.get('id')}) published; bound to "
                f"{', '.join(queues) or 'no queue'}",
                "→",
            )
            return
        if kind == "integration.health.changed":
            self.say(
                f"health: {data.get('integration')} is {data.get('current')} "
                f"(was {data.get('previous')}): {data.get('reason')}",
                "!",
            )
            return
        if kind == "order.refunded":
            self.say(
                f"order-followup.payments: refund {data.get('refund_id')} of "
                f"{data.get('order_id')} {data.get('status')} (order.refunded.v1)",
                "→",
            )
            self._mark(self._order_of(data.get("order_id")), "refunded")
            return
        order = self._order_of(correlation=event.get("correlationid"))
        if order is None:
            return
        described = {
            "email.requested": "order-followup.confirmation asked for the confirmation email",
            "order.crm_synced": "order-followup.crm: CRM sync done (order.crm_synced.v1)",
            "order.warehouse_notified": "order-followup.warehouse: warehouse notified",
            "order.confirmation_requested": "order-followup.confirmation: step done",
            "email.sent": "email: sent (email.sent.v1)",
            "delivery.succeeded": f"publisher: delivered {data.get('event_type')} to "
            f"{data.get('destination')} (HTTP {data.get('status_code')}, attempt "
            f"{data.get('attempt')})",
        }.get(kind)
        if described:
            self.say(described, "→")
        if kind == "order.crm_synced":
            self._mark(order, "crm_synced")

    @staticmethod
    def _mark(order: Order | None, fact: str) -> None:
        if order is not None:
            order.seen.add(fact)


def new_order_id() -> str:
    """A fresh order id for this run."""
    return f"ord_demo_{uuid.uuid4().hex[:6]}"


def order_paid(order_id: str, customer_id: str, name: str, city: str) -> bytes:
    """The shop's `order.paid` webhook body: the contract's own example, for another buyer."""
    example: dict[str, Any] = OrderCreatedV1.model_json_schema()["examples"][0]
    data = {
        **example,
        "order_id": order_id,
        "customer": {**example["customer"], "id": customer_id, "name": name},
        "shipping_address": {**example["shipping_address"], "city": city},
    }
    return orjson.dumps({"type": "order.paid", "data": data})


def order_cancelled(order_id: str) -> bytes:
    """The shop's `order.cancelled` webhook body: a full refund of the example's payment."""
    data = {
        "order_id": order_id,
        "payment_id": f"pi_{order_id}",
        "currency": "EUR",
        "refund_minor": 1798,
        "reason": "the customer cancelled before shipping",
        "cancelled_at": utc_now().isoformat(),
    }
    return orjson.dumps({"type": "order.cancelled", "data": data})


def order_cancelled_tracked(order_id: str) -> AnalyticsTrackedV1:
    """What the shop's site reports to the analytics providers."""
    return AnalyticsTrackedV1(
        event="Order Cancelled",
        user_id="cus_1042",
        properties={"order_id": order_id, "refund": 17.98, "currency": "EUR"},
        occurred_at=utc_now(),
    )


def feedback_email(order_id: str, send_at: datetime) -> EmailRequestedV1:
    """A literal email for later: the service sends it at or after `send_at`."""
    return EmailRequestedV1(
        to="ada@example.com",
        subject=f"{FEEDBACK_SUBJECT} {order_id}?",
        body="We refunded your order. Tell us what we could do better.",
        send_at=send_at,
        priority="low",
    )


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel a background task and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
