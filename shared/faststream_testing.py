"""The FastStream kit's test helpers: a service's handlers on FastStream's TestRabbitBroker, no
RabbitMQ, with what the kit decided for each delivery (docs/faststream.md, "Testing")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import aio_pika
from faststream.exceptions import SubscriberNotFound
from faststream.rabbit import TestRabbitBroker
from faststream.rabbit.parser import AioPikaParser
from faststream.rabbit.response import RabbitPublishCommand

from contracts.envelope import CloudEvent
from shared.faststream import YardBroker
from shared.testing import HandlerResult, Sent, event_of, judge
from shared.topology import EVENTS_EXCHANGE, WorkQueue


@dataclass
class YardTest:
    """A test run on TestRabbitBroker: what was sent, and what the kit did with each delivery."""

    broker: YardBroker
    bound: Collection[str] | None
    sent: list[Sent] = field(default_factory=list)
    results: list[HandlerResult] = field(default_factory=list)
    _nested: list[list[Sent]] = field(default_factory=list)

    def published(self) -> list[CloudEvent[Any]]:
        """Every event published to `events`, validated again as a consumer would."""
        return [event_of(s) for s in self.sent if s.exchange == EVENTS_EXCHANGE]

    async def record(
        self, deliver: Callable[[RabbitPublishCommand], Awaitable[Any]], cmd: RabbitPublishCommand
    ) -> None:
        """Deliver like TestRabbitBroker; a copy for the ladder or a parked queue, or an event
        for a key some queue is bound to, is confirmed as the broker would."""
        exchange = cmd.exchange.name
        sent = Sent(exchange, cmd.destination, await _as_message(cmd))
        self.sent.append(sent)
        for outer in self._nested:
            outer.append(sent)
        inner: list[Sent] = []
        self._nested.append(inner)
        try:
            await deliver(cmd)
        except SubscriberNotFound:
            mandatory = cmd.publish_options["mandatory"]
            if exchange == EVENTS_EXCHANGE and mandatory and not self._routable(sent):
                raise
            return
        finally:
            self._nested.pop()
        topology = self.broker.topology
        for queue in topology.queues:
            if self._takes(queue, sent):
                # TestRabbitBroker settles nothing: the kit acks once its copies are confirmed.
                headers = sent.message.headers or {}
                self.results.append(judge(headers, inner, queue.name, topology.ladder))

    def _routable(self, sent: Sent) -> bool:
        return self.bound is None or sent.routing_key in self.bound

    @staticmethod
    def _takes(queue: WorkQueue, sent: Sent) -> bool:
        """Whether a yard subscriber's queue got this message (not a FastStream publisher's
        stand-in subscriber)."""
        if sent.exchange == EVENTS_EXCHANGE:
            return sent.routing_key in queue.bindings
        return (sent.exchange, sent.routing_key) == ("", queue.name)


@asynccontextmanager
async def yard_test_broker(
    broker: YardBroker, *, bound: Collection[str] | None = None
) -> AsyncIterator[YardTest]:
    """Run `broker` on FastStream's TestRabbitBroker: no RabbitMQ, the kit's decisions recorded.

    `bound`: the routing keys some queue on `events` takes (None: every key), so a publish
    nobody is bound for fails as on the real broker. TestRabbitBroker knows no acks, TTLs or
    dead-lettering: a retried message is not redelivered, its copy is recorded instead.
    """
    async with TestRabbitBroker(broker):
        test = YardTest(broker, bound)
        producer = broker.config.producer
        deliver = producer.publish

        async def recorded(cmd: RabbitPublishCommand) -> None:
            await test.record(deliver, cmd)

        with mock.patch.object(producer, "publish", recorded):
            yield test


async def _as_message(cmd: RabbitPublishCommand) -> aio_pika.Message:
    """The message a publish command puts on the wire (FastStream's own encoding)."""
    return await AioPikaParser.encode_message(
        cmd.body,
        headers=cmd.headers,
        correlation_id=cmd.correlation_id,
        reply_to=cmd.reply_to or None,
        **cmd.message_options,
    )
