"""Run a handler as the consumer would, against an in-memory broker: no RabbitMQ needed.

    kit = HandlerKit()
    result = await kit.run(send_email, EmailRequestedV1(...))
    assert result.parked and result.reason == "contract"
    assert [e.type for e in result.published] == ["email.failed"]

`run` builds the AMQP message the yard would publish for the event, hands it to the real
consume path (`shared.consumer.StepConsumer`: decoding, the handler, the failure mapping, the
ladder and parking decisions, the copies it sends) and reports what came of it. What only a
broker can prove (confirms, dead-lettering, the TTL ladder, reconnects) stays in the tests
under tests/integration/.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage
from pamqp import commands as spec

from contracts.base import Contract
from contracts.envelope import CloudEvent
from shared import headers as h
from shared.attempts.model import Attempt
from shared.attempts.reporter import AttemptReporter
from shared.consumer import (
    AS_COMMAND,
    ConsumerContext,
    Decoder,
    Handler,
    Reported,
    Step,
    StepConsumer,
)
from shared.decoding import decode_event
from shared.errors import UnroutableError
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter, build_event, event_message, message_of
from shared.redact import Redactor
from shared.topology import EVENTS_EXCHANGE, PARKED_SUFFIX, Topology, WorkQueue
from shared.tracing import Tracing

# The ladder the kit's topology uses: what a retry looks like, not how long it takes.
TEST_DELAYS = (5.0, 30.0, 120.0)
Outcome = Literal["acked", "retried", "parked", "deferred", "returned"]


@dataclass(frozen=True)
class Sent:
    """One message the code under test sent, confirmed by the in-memory broker."""

    exchange: str
    routing_key: str
    message: aio_pika.Message

    def event(self) -> dict[str, Any]:
        """The message's body, parsed."""
        parsed: dict[str, Any] = orjson.loads(self.message.body)
        return parsed


@dataclass
class MemoryBroker:
    """A broker that confirms every publish at once and remembers it.

    `bound`: the routing keys some queue on `events` takes (None: every key); a publish to
    `events` with any other key is unroutable, as the real broker would return it.
    """

    bound: Collection[str] | None = None
    sent: list[Sent] = field(default_factory=list)

    async def send(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.abc.AbstractMessage,
        *,
        mandatory: bool = True,
    ) -> None:
        """Confirm `message` (the Confirmer's interface), or raise UnroutableError."""
        routable = self.bound is None or exchange != EVENTS_EXCHANGE or routing_key in self.bound
        if mandatory and not routable:
            raise UnroutableError(f"no queue is bound for {routing_key!r} on {exchange!r}")
        self.sent.append(Sent(exchange, routing_key, cast(aio_pika.Message, message)))

    async def send_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: spec.Basic.Properties,
        *,
        mandatory: bool = True,
    ) -> None:
        """`send` for a body and its properties (the Confirmer's hot-path interface)."""
        message = message_of(body, properties)
        await self.send(exchange, routing_key, message, mandatory=mandatory)

    def published(self) -> list[Sent]:
        """What was published to `events`."""
        return [s for s in self.sent if s.exchange == EVENTS_EXCHANGE]


@dataclass
class HandlerResult:
    """What the consume path did with one message."""

    outcome: Outcome
    published: list[CloudEvent[Any]]  # the events the handler published (confirmed)
    sent: list[Sent]  # what else the handler sent (a fan-out's copies, say)
    copy: Sent | None = None  # the retry, deferred or parked copy, if one was sent
    rung: str | None = None  # the ladder rung of a retry or deferral
    reason: str | None = None  # why it was parked
    error: str | None = None  # the redacted error text of a retry or parking
    attempts: int | None = None  # the attempts counted on a retry or parking
    record: Attempt | None = None  # what the attempts log is told of this attempt

    @property
    def acked(self) -> bool:
        """The handler finished and the message was acked."""
        return self.outcome == "acked"

    @property
    def retried(self) -> bool:
        """The message went up the ladder."""
        return self.outcome == "retried"

    @property
    def parked(self) -> bool:
        """The message was parked."""
        return self.outcome == "parked"


@dataclass
class _Channel:
    is_closed: bool = False


@dataclass
class MemoryMessage:
    """An incoming AMQP message as the consumer sees it, recording its ack or nack."""

    body: bytes
    content_type: str | None = None
    content_encoding: str | None = None
    type: str | None = None
    message_id: str | None = None
    app_id: str | None = None
    correlation_id: str | None = None
    timestamp: datetime | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    priority: int | None = None
    reply_to: str | None = None
    routing_key: str | None = None
    channel: _Channel = field(default_factory=_Channel)
    settled: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, message: aio_pika.Message, routing_key: str) -> MemoryMessage:
        """The message as it would arrive from a queue."""
        return cls(
            body=message.body,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            type=message.type,
            message_id=message.message_id,
            app_id=message.app_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            headers=dict(message.headers or {}),
            priority=message.priority,
            reply_to=message.reply_to,
            routing_key=routing_key,
        )

    async def ack(self) -> None:
        """Record the ack."""
        self.settled.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        """Record the nack (the message goes back to its queue)."""
        self.settled.append("nack")


class HandlerKit:
    """An in-memory broker, a publish API on it, and a way to run handlers through the consumer.

    Build the handler under test with `kit.emitter` (or `kit.broker` where it takes a
    Confirmer) and fakes of its other ports, then `await kit.run(handler, event)`.
    """

    def __init__(
        self,
        *,
        service: str = "tests",
        topology: Topology | None = None,
        bound: Collection[str] | None = None,
        redactor: Redactor | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.broker = MemoryBroker(bound)
        self.topology = topology or Topology((), TEST_DELAYS, delivery_limit=10)
        self.metrics = Metrics(service)
        self.redactor = redactor or Redactor()
        self.confirmer = cast(Confirmer, self.broker)
        self.emitter = Emitter(
            self.confirmer, source=f"eventyard/{service}", metrics=self.metrics, tracing=tracing
        )
        # Never started: the attempts it is told of wait in it, for `HandlerResult.record`.
        self.reporter = AttemptReporter(service, self.emitter, self.metrics)
        self._service = service
        self._tracing = tracing

    async def run(
        self,
        handler: Handler,
        event: Contract | CloudEvent[Any] | aio_pika.Message | MemoryMessage,
        *,
        attempt: int = 1,
        queue: str = "tests.step",
        accepts: tuple[type[Contract], ...] = (),
        decoder: Decoder = decode_event,
        reported: Reported | None = AS_COMMAND,
    ) -> HandlerResult:
        """Deliver `event` (a payload, an event, or a raw message) to `handler` at `attempt`
        (a MemoryMessage arrives exactly as given; `reported`: as the step's attempts are)."""
        if isinstance(event, MemoryMessage):
            incoming = event
        else:
            message = self._message(event, attempt)
            incoming = MemoryMessage.of(message, routing_key=message.type or queue)
        step = Step(WorkQueue(queue), handler, accepts=accepts, decoder=decoder, reported=reported)
        consumer = StepConsumer(step, self._context())
        before, told = len(self.broker.sent), len(self.reporter.waiting)
        await consumer._on_message(cast(AbstractIncomingMessage, incoming))
        result = self._result(incoming, self.broker.sent[before:], queue)
        records = self.reporter.waiting[told:]
        return dataclasses.replace(result, record=records[-1]) if records else result

    def _message(
        self, event: Contract | CloudEvent[Any] | aio_pika.Message, attempt: int
    ) -> aio_pika.Message:
        if isinstance(event, aio_pika.Message):
            message = event
        else:
            built = event if isinstance(event, CloudEvent) else build_event(event, source="tests")
            message = event_message(built)
        if attempt > 1:
            headers = dict(message.headers or {})
            headers[h.ATTEMPTS] = attempt - 1
            message.headers = headers
        return message

    def _context(self) -> ConsumerContext:
        return ConsumerContext(
            service=self._service,
            version="tests",
            topology=self.topology,
            confirmer=self.confirmer,
            emitter=self.emitter,
            metrics=self.metrics,
            redactor=self.redactor,
            default_prefetch=1,
            reporter=self.reporter,
            tracing=self._tracing,
        )

    def _result(self, message: MemoryMessage, sent: list[Sent], queue: str) -> HandlerResult:
        if message.settled != ["ack"]:
            published = [event_of(s) for s in sent if s.exchange == EVENTS_EXCHANGE]
            return HandlerResult(
                "returned", published, [s for s in sent if s.exchange != EVENTS_EXCHANGE]
            )
        return judge(message.headers, sent, queue, self.topology.ladder)


def judge(
    delivered: Mapping[str, Any], sent: list[Sent], queue: str, ladder: Collection[str]
) -> HandlerResult:
    """What the consume path did with an acked message (its headers `delivered`) of `queue`,
    from what it sent meanwhile: parked, retried or deferred on the ladder, or acked."""
    published = [event_of(s) for s in sent if s.exchange == EVENTS_EXCHANGE]
    parked = [s for s in sent if (s.exchange, s.routing_key) == ("", queue + PARKED_SUFFIX)]
    laddered = [s for s in sent if s.exchange in ladder and s.routing_key == queue]
    other = [
        s for s in sent if s.exchange != EVENTS_EXCHANGE and s not in parked and s not in laddered
    ]
    if parked:
        copy = parked[-1]
        headers = copy.message.headers or {}
        return HandlerResult(
            "parked",
            published,
            other,
            copy,
            reason=h.text(headers.get(h.REASON)),
            error=h.text(headers.get(h.ERROR_MESSAGE)),
            attempts=h.integer(headers.get(h.ATTEMPTS)),
        )
    if laddered:
        copy = laddered[-1]
        headers = copy.message.headers or {}
        if h.integer(headers.get(h.DEFERRALS)) > h.integer(delivered.get(h.DEFERRALS)):
            return HandlerResult("deferred", published, other, copy, rung=copy.exchange)
        return HandlerResult(
            "retried",
            published,
            other,
            copy,
            rung=copy.exchange,
            error=h.text(headers.get(h.ERROR_MESSAGE)),
            attempts=h.integer(headers.get(h.ATTEMPTS)),
        )
    return HandlerResult("acked", published, other)


def event_of(sent: Sent) -> CloudEvent[Any]:
    """A published message's event, validated again as any consumer would."""
    return decode_event(cast(AbstractIncomingMessage, MemoryMessage.of(sent.message, "")))
