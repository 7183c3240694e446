"""The consume path: decode, run the handler, then ack, retry on the ladder, or park.

Built on aio-pika directly rather than FastStream: FastStream 0.7.8's per-message machinery
measured at 46-64% of raw aio-pika's consume rate here (issue 7 wants >= 90%), and the order
"handler done -> its publishes confirmed -> retry/park copy confirmed -> ack" must be explicit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import aiormq
from aio_pika import IncomingMessage, Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.exceptions import ChannelInvalidStateError
from prometheus_client import Counter

from contracts.attempts import AttemptKind
from contracts.base import Contract
from contracts.envelope import CloudEvent, utc_now
from shared.attempts.reporter import AttemptReporter, Pending
from shared.decoding import decode_event
from shared.errors import DeferredError, PublishError, Reason, UnroutableError
from shared.failures import (
    Failure,
    Park,
    Retry,
    attempts_so_far,
    decide,
    defer,
    deferred_copy,
    failed_copy,
)
from shared.logs import correlation_id_var, event_id_var
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter
from shared.redact import Redactor
from shared.topology import Topology, WorkQueue, work_queue_arguments
from shared.tracing import Tracing, settled

log = logging.getLogger(__name__)
REQUEUE_PAUSE_SECONDS = 1.0
# How long a message is held while the broker will not confirm its retry or parked copy, and
# the longest pause between two tries (they start at REQUEUE_PAUSE_SECONDS and double).
HOLD_SECONDS = 300.0
HOLD_PAUSE_MAX_SECONDS = 30.0
T = TypeVar("T")


@dataclass(slots=True)
class Incoming(Generic[T]):
    """One event handed to a handler, with what the handler may need to answer it."""

    event: CloudEvent[T]
    attempt: int
    queue: str
    emitter: Emitter
    message: AbstractIncomingMessage
    # What the far end answered (status code, redacted excerpt), for the attempts log.
    answer: tuple[int | None, str | None] | None = None
    # A failure the handler settled itself (a best-effort attempt, counted and not retried).
    dropped: Exception | None = None

    @property
    def data(self) -> T:
        """The contract payload."""
        return self.event.data

    def answered(self, status_code: int | None, excerpt: str | None = None) -> None:
        """Note the far end's answer (its text redacted already) for this attempt's record."""
        self.answer = (status_code, excerpt)

    def gave_up(self, error: Exception) -> None:
        """Note that this attempt failed and is not retried (a best-effort step's failure)."""
        self.dropped = error

    async def publish(
        self,
        data: Contract,
        *,
        subject: str | None = None,
        event_id: str | None = None,
        require_route: bool = True,
    ) -> CloudEvent[Any]:
        """Publish a follow-up event, caused by this one and in the same correlation."""
        return await self.emitter.publish(
            data,
            subject=subject,
            event_id=event_id,
            correlation_id=self.event.correlationid or self.event.id,
            causation_id=self.event.id,
            require_route=require_route,
        )


Handler = Callable[[Incoming[Any]], Awaitable[None]]
Decoder = Callable[[AbstractIncomingMessage, Collection[type[Contract]]], CloudEvent[Any]]


@dataclass(frozen=True)
class Reported:
    """How a step's attempts show in the attempts log: their kind and target (default: the
    step's queue)."""

    kind: AttemptKind = "command"
    target: str | None = None


AS_COMMAND = Reported()  # a step's default: kind `command`, target its queue


@dataclass(frozen=True)
class Step:
    """A consumer step: its queue, the contracts it accepts and the handler that does the work.

    `reported`: how its attempts go to the attempts log; None for a step that writes the log.
    `traced`: whether each message gets a processing span (when tracing is on).
    """

    queue: WorkQueue
    handler: Handler
    accepts: tuple[type[Contract], ...] = ()
    prefetch: int | None = None
    decoder: Decoder = field(default=decode_event)
    reported: Reported | None = AS_COMMAND
    traced: bool = True  # False for bookkeeping (the log's writer): no span per message


@dataclass(frozen=True)
class ConsumerContext:
    """What every step consumer of one service shares."""

    service: str
    version: str
    topology: Topology
    confirmer: Confirmer
    emitter: Emitter
    metrics: Metrics
    redactor: Redactor
    default_prefetch: int
    reporter: AttemptReporter | None = None  # None: no attempts are reported
    tracing: Tracing | None = None  # None: tracing off, nothing traced and nothing extracted


class StepConsumer:
    """Runs one step on its own channel, so its prefetch and backlog are its own."""

    def __init__(self, step: Step, context: ConsumerContext) -> None:
        self.step = step
        self._ctx = context
        self._name = step.queue.name
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._inflight = 0
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        m, service, queue = context.metrics, context.service, self._name
        self._acked = m.consumed.labels(service, queue, "acked")
        self._retried = m.consumed.labels(service, queue, "retried")
        self._parked = m.consumed.labels(service, queue, "parked")
        self._deferred = m.consumed.labels(service, queue, "deferred")
        self._duration = m.handler_duration.labels(service, queue)
        self._latency = m.end_to_end.labels(service, queue)
        self._children: dict[tuple[int, str], Counter] = {}
        reported = step.reported or AS_COMMAND
        self._reporter = context.reporter if step.reported is not None else None
        self._kind, self._target = reported.kind, reported.target or self._name
        self._tracing = context.tracing if step.traced else None
        self._door = step.queue.door is not None

    @property
    def consuming(self) -> bool:
        """True while the channel is open and the consumer is registered."""
        return self._tag is not None and self._channel is not None and not self._channel.is_closed

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Open the channel, set prefetch and start consuming."""
        self._channel = await connection.channel()
        await self._channel.set_qos(prefetch_count=self.step.prefetch or self._ctx.default_prefetch)
        self._queue = await self._channel.declare_queue(
            self._name,
            durable=True,
            arguments=work_queue_arguments(self.step.queue, self._ctx.topology.delivery_limit),
        )
        self._tag = await self._queue.consume(self._on_message)

    async def stop(self, grace: float) -> None:
        """Stop taking messages, let in-flight ones finish (up to `grace` s), close the channel."""
        self._stopping.set()
        if self._queue is not None and self._tag is not None:
            tag, self._tag = self._tag, None
            try:
                await self._queue.cancel(tag)
            except Exception:  # the channel may already be gone; unacked messages return anyway
                log.warning("could not cancel the consumer", extra={"queue": self._name})
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning(
                "in-flight messages not finished; they return to the queue",
                extra={"queue": self._name, "inflight": self._inflight},
            )
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inflight += 1
        self._idle.clear()
        started = time.perf_counter()
        try:
            headers = message.headers
            # A first delivery carries no headers at all: skip reading the failure history then.
            attempt = attempts_so_far(headers) + 1 if headers else 1
            if self._tracing is None:
                await self._process(message, attempt, started)
            else:
                with self._tracing.processing(message, self._name, attempt, door=self._door):
                    await self._process(message, attempt, started)
        finally:
            self._duration.observe(time.perf_counter() - started)
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _process(
        self, message: AbstractIncomingMessage, attempt: int, started: float
    ) -> None:
        incoming: Incoming[Any] | None = None
        try:
            event = self.step.decoder(message, self.step.accepts)
            event_id_var.set(event.id)
            correlation_id_var.set(event.correlationid)
            incoming = Incoming(event, attempt, self._name, self._ctx.emitter, message)
            await self.step.handler(incoming)
        except DeferredError as deferred:
            await self._defer(message, deferred)
            return
        except Exception as error:
            decision = await self._fail(message, error, attempt)
            if decision is not None and self._reporter is not None:
                self._report_failure(
                    message,
                    incoming=incoming,
                    attempt=attempt,
                    started=started,
                    error=error,
                    decision=decision,
                )
            return
        await _ack(message)
        self._acked.inc()
        # Seconds since the event's `time`; plain floats are cheaper than datetime arithmetic.
        self._latency.observe(max(0.0, time.time() - event.time.timestamp()))
        if self._reporter is not None:
            if incoming.dropped is not None:
                self._report_failure(
                    message,
                    incoming=incoming,
                    attempt=attempt,
                    started=started,
                    error=incoming.dropped,
                    decision=None,
                )
                return
            status, excerpt = incoming.answer or (None, None)
            self._reporter.add(
                Pending(
                    event.id,
                    event.type,
                    self._kind,
                    self._target,
                    attempt,
                    time.time(),
                    "succeeded",
                    _since(started),
                    status,
                    excerpt=excerpt,
                    request=message.body if attempt == 1 else None,
                )
            )

    def _report_failure(
        self,
        message: AbstractIncomingMessage,
        *,
        incoming: Incoming[Any] | None,
        attempt: int,
        started: float,
        error: Exception,
        decision: Retry | Park | None,
    ) -> None:
        """Report a failed attempt: retried (`Retry`), parked, or dropped by its handler (None)."""
        assert self._reporter is not None
        # A message that did not decode is named by its AMQP message id and routing key.
        event_id = incoming.event.id if incoming else (message.message_id or "-")
        event_type = incoming.event.type if incoming else (message.routing_key or "-")
        status, excerpt = (incoming.answer if incoming else None) or (None, None)
        status = status if status is not None else getattr(error, "status_code", None)
        self._reporter.add(
            Pending(
                event_id,
                event_type,
                self._kind,
                self._target,
                attempt,
                time.time(),
                _OUTCOMES[type(decision)],
                _since(started),
                status if isinstance(status, int) else None,
                type(error).__name__,
                excerpt or self._ctx.redactor.clean(str(error)),
                decision.rung if isinstance(decision, Retry) else None,
                # What it handled: once per message, and again where it ends parked.
                message.body if attempt == 1 or isinstance(decision, Park) else None,
            )
        )

    async def _fail(
        self, message: AbstractIncomingMessage, error: Exception, attempt: int
    ) -> Retry | Park | None:
        """Send the retry or parked copy, then ack; the decision, or None if the message went
        back to its queue instead."""
        ctx = self._ctx
        decision = decide(error, attempt, ctx.topology)
        text = ctx.redactor.clean(f"{type(error).__name__}: {error}")
        failure = Failure(
            queue=self._name,
            routing_key=message.routing_key or "",
            attempts=attempt,
            reason=decision.reason if isinstance(decision, Park) else Reason.TRANSIENT,
            error=error,
            error_text=text,
            service=ctx.service,
            version=ctx.version,
            at=utc_now(),
        )
        exchange, key = (
            (decision.rung, self._name)
            if isinstance(decision, Retry)
            else ("", self.step.queue.parked)
        )
        if self._tracing is not None:
            outcome = "retried" if isinstance(decision, Retry) else "parked"
            settled(outcome, type(error).__name__, text)
        if not await self._send_copy(message, exchange, key, failed_copy(message, failure)):
            return None
        await _ack(message)
        self._record(decision, text)
        return decision

    async def _defer(self, message: AbstractIncomingMessage, deferred: DeferredError) -> None:
        rung = defer(deferred, self._ctx.topology, utc_now()).rung
        if self._tracing is not None:
            settled("deferred")
        if not await self._send_copy(message, rung, self._name, deferred_copy(message)):
            return
        await _ack(message)
        self._deferred.inc()

    async def _send_copy(
        self, message: AbstractIncomingMessage, exchange: str, routing_key: str, copy: Message
    ) -> bool:
        """Publish the retry, deferred or parked copy of `message`; True once it is confirmed.

        While the broker does not confirm the copy (a queue without its quorum, say), the
        message is held unacked and the copy sent again. Giving it back at once cost it one of
        its deliveries each time, so a partial outage of half a minute parked healthy messages
        by their delivery limit. It is given back after HOLD_SECONDS, or when the consumer
        stops; if its channel closes, the broker has it back already.
        """
        deadline = time.monotonic() + HOLD_SECONDS
        pause = REQUEUE_PAUSE_SECONDS
        while True:
            try:
                await self._ctx.confirmer.send(exchange, routing_key, copy)
            except PublishError as error:
                if not _open(message):
                    log.warning(
                        "the broker did not confirm the copy; its channel closed, "
                        "so the message is back on its queue",
                        extra={"queue": self._name},
                    )
                    return False
                # Unroutable: no queue takes the copy, and holding will not mend the topology.
                if (
                    isinstance(error, UnroutableError)
                    or self._stopping.is_set()
                    or time.monotonic() + pause > deadline
                ):
                    log.exception("could not send the copy; the message returns to its queue")
                    await self._give_back(message)
                    return False
                log.warning(
                    "the broker did not confirm the copy; holding the message to send it again",
                    extra={"queue": self._name, "error": str(error), "pause": pause},
                )
            else:
                return True
            with contextlib.suppress(TimeoutError):  # a stop ends the pause
                await asyncio.wait_for(self._stopping.wait(), pause)
            pause = min(pause * 2, HOLD_PAUSE_MAX_SECONDS)

    async def _give_back(self, message: AbstractIncomingMessage) -> None:
        # The publish already waited out its timeout; pausing again before the requeue keeps a
        # broker that refuses publishes from turning into a hot redelivery loop.
        await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
        with contextlib.suppress(Exception):  # a dead channel returns it all the same
            await message.nack(requeue=True)

    def _record(self, decision: Retry | Park, text: str) -> None:
        m = self._ctx.metrics
        if isinstance(decision, Retry):
            self._retried.inc()
            self._child(m.retried, decision.rung).inc()
            log.warning(
                "retrying",
                extra={
                    "queue": self._name,
                    "attempt": decision.attempts,
                    "rung": decision.rung,
                    "error": text,
                },
            )
        else:
            self._parked.inc()
            self._child(m.parked, decision.reason).inc()
            log.error(
                "parked",
                extra={
                    "queue": self._name,
                    "attempts": decision.attempts,
                    "reason": decision.reason,
                    "error": text,
                },
            )

    def _child(self, counter: Counter, label: str) -> Counter:
        # One label lookup per rung or reason, not one per failed message.
        key = (id(counter), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(self._ctx.service, self._name, label)
        return child


_OUTCOMES: dict[type[Retry | Park | None], str] = {
    Retry: "failed",
    Park: "parked",
    type(None): "dropped",
}


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def _ack(message: AbstractIncomingMessage) -> None:
    """Ack once the work is done, without waiting for the ack's frame to be written.

    aio-pika's `ack()` waits until aiormq's writer has put the frame on the socket: a task
    switch per message that confirms nothing (the broker never answers an ack). Queued with
    `wait=False` it is written with the next frames; if the connection dies first, the broker
    redelivers the message, as it would had the ack been lost on the wire.
    """
    if isinstance(message, IncomingMessage) and message.delivery_tag is not None:
        # aiormq's channel; its abstract type does not declare `wait`.
        channel = cast(aiormq.Channel, message.channel)
        await channel.basic_ack(message.delivery_tag, wait=False)
        message.lock()  # as aio-pika's ack does: the message is settled
    else:
        await message.ack()


def _open(message: AbstractIncomingMessage) -> bool:
    """Whether the channel the message came on is still open (it can still be acked)."""
    try:
        return not message.channel.is_closed
    except ChannelInvalidStateError:
        return False
