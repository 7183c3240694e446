"""The FastStream kit: a FastStream service that talks to the yard with the yard's guarantees.

    broker = YardBroker(url, service="loyalty", emits=(AnalyticsTrackedV1,))

    @yard_subscriber(broker, "loyalty.points", OrderCreatedV1)
    async def award_points(incoming: Incoming[OrderCreatedV1]) -> None:
        ...  # raise TransientError: up the ladder; PermanentError: parked at once
        await incoming.publish(AnalyticsTrackedV1(...))

    app = FastStream(broker)
    await publish(broker, OrderCreatedV1(...))

A subscriber's messages go through the yard's own consume path (`shared.consumer.StepConsumer`:
decoding, the handler, the retry-or-park decision, the copies and their headers, the ack after
the copy is confirmed), with FastStream's broker publishing every copy and event: persistent,
mandatory, confirmed. `shared.faststream_testing.yard_test_broker` runs the same on
FastStream's `TestRabbitBroker` and reports what the kit decided for each message.
docs/faststream.md is the long form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from faststream import AckPolicy
from faststream.exceptions import SubscriberNotFound
from faststream.message import StreamMessage
from faststream.rabbit import (
    Channel,
    ExchangeType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from pamqp import commands as spec

from contracts.base import Contract
from contracts.envelope import CloudEvent
from contracts.registry import envelope_model
from shared.consumer import ConsumerContext, Handler, Incoming, Step, StepConsumer
from shared.decoding import not_accepted
from shared.errors import PublishError, UnroutableError
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter, message_of
from shared.redact import Redactor
from shared.settings import PRODUCTION_DELAYS
from shared.topology import EVENTS_EXCHANGE, Topology, WorkQueue, declare

__all__ = [
    "BrokerConfirmer",
    "Incoming",
    "YardBroker",
    "publish",
    "yard_subscriber",
]

EVENTS = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


class BrokerConfirmer:
    """The yard's Confirmer interface over a FastStream broker: returns once the broker has it."""

    def __init__(self, broker: RabbitBroker, *, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def send(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.abc.AbstractMessage,
        *,
        mandatory: bool = True,
    ) -> None:
        """Publish and wait for the confirm; PublishError (or UnroutableError) otherwise."""
        try:
            # A Message goes out as it is: persistent, with its own properties (FastStream's
            # `persist` applies only to bodies it encodes). `message_type` is repeated for
            # TestRabbitBroker, which rebuilds the properties without it.
            await self._broker.publish(
                cast(aio_pika.Message, message),
                exchange=exchange,
                routing_key=routing_key,
                mandatory=mandatory,
                timeout=self._timeout,
                message_type=message.type,
            )
        except (aio_pika.exceptions.PublishError, SubscriberNotFound) as error:
            raise UnroutableError(
                f"no queue is bound for {routing_key!r} on {exchange!r}"
            ) from error
        except aio_pika.exceptions.DeliveryError as error:
            raise PublishError(f"the broker refused the message for {routing_key!r}") from error
        except TimeoutError as error:
            raise PublishError(f"no confirm from the broker within {self._timeout:g} s") from error
        except Exception as error:  # whatever else the client raises, nothing was confirmed
            raise PublishError(f"broker unavailable: {type(error).__name__}") from error

    async def send_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: spec.Basic.Properties,
        *,
        mandatory: bool = True,
    ) -> None:
        """`send` for a body and its AMQP properties."""
        await self.send(exchange, routing_key, message_of(body, properties), mandatory=mandatory)


class YardBroker(RabbitBroker):
    """A RabbitBroker configured for the yard: confirms on, returns raised, prefetch bounded, the
    yard's exchange, ladder and each subscriber's queue and parked queue declared at start."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        delays: Sequence[float] = PRODUCTION_DELAYS,
        delivery_limit: int = 10,
        prefetch: int = 100,
        publish_timeout: float = 10.0,
        version: str = "",
        emits: Sequence[type[Contract]] = (),
        redactor: Redactor | None = None,
        **options: Any,
    ) -> None:
        channel = Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True)
        super().__init__(url, default_channel=channel, app_id=service, **options)
        self.service = service
        self.metrics = Metrics(service)
        self.redactor = redactor or Redactor()
        self._queues: list[WorkQueue] = []
        self._ladder = Topology((), tuple(delays), delivery_limit)
        confirmer = cast(Confirmer, BrokerConfirmer(self, timeout=publish_timeout))
        self.emitter = Emitter(confirmer, source=service, metrics=self.metrics)
        self.consumer_context = ConsumerContext(
            service=service,
            version=version,
            topology=self._ladder,
            confirmer=confirmer,
            emitter=self.emitter,
            metrics=self.metrics,
            redactor=self.redactor,
            default_prefetch=prefetch,
        )
        for contract in emits:
            _allowed(contract, service)
            key = contract.key()
            self.publisher(
                exchange=EVENTS,
                routing_key=key,
                persist=True,
                title=key,
                schema=envelope_model(contract),
                description=contract.__doc__,
            )

    @property
    def topology(self) -> Topology:
        """The subscribers' queues on the yard's ladder: what `start` declares."""
        ladder = self._ladder
        return Topology(tuple(self._queues), ladder.delays, ladder.delivery_limit)

    def add_queue(self, queue: WorkQueue) -> None:
        """Declare this work queue (and its parked queue and bindings) at start."""
        self._queues.append(queue)

    async def start(self) -> None:
        """Declare the yard's topology as `shared.topology` does, then start the subscribers."""
        connection = await self.connect()
        async with connection.channel() as channel:
            await declare(channel, self.topology)
        await super().start()


async def publish(
    broker: YardBroker,
    data: Contract,
    *,
    subject: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent[Any]:
    """Publish a contract to the yard as a CloudEvent, persistent and confirmed; returns the event.

    UnroutableError when no queue takes it; NotAcceptedError when its PRODUCERS do not name
    this service (or `any`).
    """
    _allowed(type(data), broker.service)
    return await broker.emitter.publish(
        data,
        subject=subject,
        correlation_id=correlation_id,
        causation_id=causation_id,
        event_id=event_id,
    )


def yard_subscriber(
    broker: YardBroker, queue: str, *contracts: type[Contract]
) -> Callable[[Handler], Handler]:
    """Consume `queue`, bound to `events` by each contract's key, with the yard's failure rules.

    The handler takes an `Incoming` (the validated event, the attempt, `publish()` for
    follow-ups). It returns: acked. `TransientError` or anything unexpected: the next rung of
    the ladder, then parked as `exhausted`. `PermanentError` or an undecodable message: parked
    at once with the yard's headers. `DeferredError`: waits on the ladder without an attempt.
    """
    if not contracts:
        raise ValueError("name the contracts the queue takes")
    keys = tuple(c.key() for c in contracts)
    work = WorkQueue(queue, keys, service=broker.service)

    def register(handler: Handler) -> Handler:
        broker.add_queue(work)
        consumer = StepConsumer(Step(work, handler, accepts=contracts), broker.consumer_context)
        subscriber = broker.subscriber(
            # Declared (with its arguments, parked queue and every binding) by `start` through
            # shared.topology; FastStream only checks it exists. Its one routing key serves
            # the AsyncAPI document and TestRabbitBroker's matching.
            RabbitQueue(queue, declare=False, routing_key=keys[0] if len(keys) == 1 else "#"),
            EVENTS,
            ack_policy=AckPolicy.MANUAL,
            decoder=_undecoded,
            title=f"{queue}:{','.join(keys)}",
            description=handler.__doc__ or f"takes {', '.join(keys)}",
        )

        context = broker.context

        @subscriber
        async def consume() -> None:
            # The message from FastStream's context, not a `RabbitMessage` parameter: a Context()
            # parameter is resolved by a sync function that fast-depends runs in a worker
            # thread, one thread hop per message (3.3x raw aio-pika's CPU per message, measured
            # in bench/README.md). The yard's consume path acks, or sends the copy and acks once
            # it is confirmed.
            message: StreamMessage[AbstractIncomingMessage] = context.get_local("message")
            await consumer._on_message(message.raw_message)

        return handler

    return register


async def _undecoded(_: Any) -> None:
    # The yard's consume path decodes; FastStream's own decoder would parse every body once
    # more, and raise, outside the failure rules, on one its content type cannot read.
    return None


def _allowed(contract: type[Contract], service: str) -> None:
    if not contract.PRODUCERS.allow(service):
        raise not_accepted(contract, service)
