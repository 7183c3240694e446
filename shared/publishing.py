"""The publish API: validated, persistent, confirmed, and loud when unroutable."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustChannel, DeliveryMode
from pamqp import commands as spec

from contracts.base import Contract
from contracts.envelope import CONTENT_TYPE, CloudEvent, new_event_id, utc_now
from contracts.registry import Resolved, resolve, routing_key, version_of
from shared.errors import ContractError, PublishError, UnroutableError
from shared.metrics import Metrics
from shared.topology import EVENTS_EXCHANGE
from shared.tracing import Tracing, failed


def build_event(
    data: Contract,
    *,
    source: str,
    subject: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
    type_suffix: str | None = None,
    resolved: Resolved | None = None,
) -> CloudEvent[Any]:
    """Wrap a contract payload in a fresh CloudEvent (`resolved`: its contract, if at hand)."""
    resolved = resolved or resolve(type(data))
    event_type = data.TYPE if type_suffix is None else f"{data.TYPE}.{type_suffix}"
    event_id = event_id or new_event_id()
    return resolved.envelope(
        id=event_id,
        source=source,
        type=event_type,
        time=utc_now(),
        dataschema=resolved.dataschema,
        subject=subject,
        data=data,
        correlationid=correlation_id or event_id,
        causationid=causation_id,
    )


def event_key(event: CloudEvent[Any]) -> str:
    """The routing key of an event built elsewhere: its type and its `dataschema`'s version."""
    return _key(event.type, event.dataschema)


@lru_cache(maxsize=1024)
def _key(event_type: str, dataschema: str) -> str:
    # Once per (type, schema) rather than a regex per publish; errors are not cached.
    version = version_of(dataschema)
    if version is None:
        raise ContractError(f"dataschema {dataschema!r} names no version")
    return routing_key(event_type, version)


def event_message(
    event: CloudEvent[Any], headers: Mapping[str, Any] | None = None, *, key: str | None = None
) -> aio_pika.Message:
    """The persistent AMQP message that carries an event (`key`: its routing key, if known)."""
    return message_of(event.to_json(), event_properties(event, headers, key=key))


def message_of(body: bytes, properties: spec.Basic.Properties) -> aio_pika.Message:
    """An aio-pika Message with these AMQP properties, where a Message rather than frames is
    wanted (a copy to build on, a test's record of what was sent)."""
    return aio_pika.Message(
        body,
        headers=properties.headers,
        content_type=properties.content_type,
        delivery_mode=properties.delivery_mode,
        message_id=properties.message_id,
        correlation_id=properties.correlation_id,
        type=properties.message_type,
        timestamp=properties.timestamp,
    )


def event_properties(
    event: CloudEvent[Any], headers: Mapping[str, Any] | None = None, *, key: str | None = None
) -> spec.Basic.Properties:
    """The AMQP properties `event_message` gives an event, built directly (the hot path)."""
    return spec.Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT.value,
        message_id=event.id,
        correlation_id=event.correlationid,
        message_type=key or event_key(event),
        timestamp=event.time,
        headers=dict(headers or {}),
    )


RESTORE_POLL_SECONDS = 0.05
# Errors after which the message was not confirmed and the robust channel will come back.
_NOT_SENT = (
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.AMQPConnectionError,
    ConnectionError,
    asyncio.CancelledError,
)


class Confirmer:
    """Publishes on one confirm channel; returns only once the broker has the message."""

    def __init__(self, channel: AbstractChannel, *, timeout: float) -> None:
        self._channel = channel
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
        await self.send_raw(
            exchange, routing_key, message.body, message.properties, mandatory=mandatory
        )

    async def send_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: spec.Basic.Properties,
        *,
        mandatory: bool = True,
    ) -> None:
        """`send` for a body and its AMQP properties, without an aio-pika Message between."""
        try:
            await self._publish_until_sent(exchange, routing_key, body, properties, mandatory)
        except aio_pika.exceptions.PublishError as error:
            raise UnroutableError(
                f"no queue is bound for {routing_key!r} on {exchange!r}"
            ) from error
        except aio_pika.exceptions.DeliveryError as error:
            raise PublishError(f"the broker refused the message for {routing_key!r}") from error
        except TimeoutError as error:
            raise PublishError(f"no confirm from the broker within {self._timeout:g} s") from error
        except asyncio.CancelledError as error:
            # aiormq raises CancelledError out of publish after a heartbeat timeout; only a
            # cancellation of this task itself may propagate as one.
            if _cancelled_from_outside(error):
                raise
            raise PublishError("the broker connection was lost before the confirm") from error
        except Exception as error:  # whatever else the client raises, nothing was confirmed
            raise PublishError(f"broker unavailable: {type(error).__name__}") from error

    async def _publish_until_sent(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: spec.Basic.Properties,
        mandatory: bool,
    ) -> None:
        """Publish; on a robust channel still being restored, wait for it and publish again.

        After a reconnect aio-pika restores channels one by one: a consumer's channel can be
        back (and deliver) before this one is. Failing at once made every handler's publish,
        and its retry or parking copy, fail, and the message loop back until the broker's
        delivery limit parked healthy messages. The publish timeout bounds the waiting.

        The frames go to aiormq's channel directly (what aio-pika's Exchange.publish does
        after its checks), with `wait=False`: the publish does not wait for its frames to be
        written before waiting for the confirm, so concurrent publishes are queued and written
        together, and their confirms come back batched (`multiple`). The confirm is still
        awaited: nothing returns before the broker has the message. Measured: ~45 µs of CPU a
        publish instead of ~60-75 through aio-pika's Exchange.
        """
        robust = self._channel if isinstance(self._channel, AbstractRobustChannel) else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            if robust is not None and robust.is_closed:
                async with asyncio.timeout(remaining):
                    await robust.ready()
                continue
            try:
                # aiormq's own channel; its abstract type does not declare `wait`.
                channel = cast(aiormq.Channel, await self._channel.get_underlay_channel())
                await channel.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=mandatory,
                    timeout=remaining,
                    wait=False,
                )
            except _NOT_SENT as error:
                if robust is None or _cancelled_from_outside(error):
                    raise
                # Not confirmed, perhaps not even sent: sending again risks only a duplicate.
                await asyncio.sleep(min(RESTORE_POLL_SECONDS, remaining))
            else:
                return


def _cancelled_from_outside(error: BaseException) -> bool:
    """A CancelledError aimed at this task (not one aiormq raised on a dead connection)."""
    task = asyncio.current_task()
    return isinstance(error, asyncio.CancelledError) and task is not None and task.cancelling() > 0


class Emitter:
    """The publish API: contract-valid events to `events`, persistent and confirmed.

    (Not the publisher service, which delivers events to partners.)
    """

    def __init__(
        self,
        confirmer: Confirmer,
        *,
        source: str,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self._confirmer = confirmer
        self._source = source
        self._metrics = metrics
        self._tracing = tracing

    @property
    def confirmer(self) -> Confirmer:
        """The confirmed-publish primitive this emitter uses."""
        return self._confirmer

    async def publish(
        self,
        data: Contract,
        *,
        subject: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        type_suffix: str | None = None,
        require_route: bool = True,
    ) -> CloudEvent[Any]:
        """Build, publish and confirm an event; returns it (its id is the message id)."""
        resolved = resolve(type(data))  # once: the envelope, the dataschema and the key
        event = build_event(
            data,
            source=self._source,
            subject=subject,
            correlation_id=correlation_id,
            causation_id=causation_id,
            event_id=event_id,
            type_suffix=type_suffix,
            resolved=resolved,
        )
        key = resolved.routing_key(event.type)
        await self.publish_event(event, require_route=require_route, key=key)
        return event

    async def publish_event(
        self, event: CloudEvent[Any], *, require_route: bool = True, key: str | None = None
    ) -> None:
        """Publish an already built event (`key`: its routing key, if the caller resolved it);
        UnroutableError only when a route is required."""
        key = key or event_key(event)
        span, headers = None, None
        if self._tracing is not None:
            span, headers = self._tracing.publish(
                EVENTS_EXCHANGE, key, event.id, event.correlationid
            )
        try:
            # Not mandatory when no route is required: the broker then drops an unroutable
            # copy without returning it (a return frame and an exception per outcome event
            # nobody consumes cost ~5% of a delivery's CPU).
            await self._confirmer.send_raw(
                EVENTS_EXCHANGE,
                key,
                event.to_json(),
                event_properties(event, headers, key=key),
                mandatory=require_route,
            )
        except UnroutableError as error:
            self._metrics.count_unrouted(key)
            if not require_route:
                return
            if span is not None:
                failed(span, error)
            raise
        except Exception as error:
            if span is not None:
                failed(span, error)
            raise
        finally:
            if span is not None:
                span.end()
        self._metrics.count_published(key)
