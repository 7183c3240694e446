"""Where an accepted event goes: mapped to a domain contract, published, or parked with why."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from contracts.envelope import CloudEvent, utc_now
from contracts.registry import resolve_key
from contracts.webhooks import WebhookReceivedV1
from shared.config import SourceConfig
from shared.decoding import contract_errors, not_accepted
from shared.errors import PermanentError, Reason, UnroutableError
from shared.failures import Failure, parked_event
from shared.publishing import Confirmer, Emitter, event_key
from shared.redact import Redactor
from shared.topology import WorkQueue
from shared.tracing import current_trace
from shared.version import eventyard_version

WEBHOOK_PREFIX = WebhookReceivedV1.TYPE + "."


class NoRouteError(PermanentError):
    """No queue is bound for the event's routing key: parked until a binding exists."""

    reason_class = Reason.UNROUTABLE


def mappable_payload(scheme: str, payload: Any) -> Any:
    """The part of a provider's body that becomes the contract payload."""
    if scheme == "github":
        return payload
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if scheme == "stripe":
        return data.get("object") if isinstance(data, dict) else None
    return data


class Router:
    """Maps provider webhook types to contracts and publishes what results."""

    def __init__(self, sources: Mapping[str, SourceConfig], emitter: Emitter) -> None:
        self._sources = sources
        self._emitter = emitter

    def resolve(self, event: CloudEvent[Any]) -> CloudEvent[Any]:
        """The event to publish: the mapped domain event if the source maps this type."""
        if not event.type.startswith(WEBHOOK_PREFIX) or not isinstance(
            event.data, WebhookReceivedV1
        ):
            return event
        received: WebhookReceivedV1 = event.data
        source = self._sources.get(received.source)
        target = source.map.get(received.provider_type or "") if source else None
        if source is None or target is None:
            return event
        with contract_errors(f"mapping {received.provider_type} -> {target}: "):
            resolved = resolve_key(target)
            data = resolved.contract.model_validate(
                mappable_payload(source.scheme, received.payload)
            )
        return resolved.envelope(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.id}/{target}")),
            source=event.source,
            type=resolved.contract.TYPE,
            time=event.time,
            dataschema=resolved.dataschema,
            subject=event.subject,
            data=data,
            correlationid=event.correlationid or event.id,
            causationid=event.id,
        )

    async def publish(self, event: CloudEvent[Any], door: str) -> CloudEvent[Any]:
        """Resolve and publish what came through `door`; ContractError (NotAcceptedError when
        `door` may not produce the contract), NoRouteError or PublishError if it fails."""
        resolved = self.resolve(event)
        contract = type(resolved.data)
        if not contract.PRODUCERS.allow(door):
            raise not_accepted(contract, door)
        try:
            await self._emitter.publish_event(resolved)
        except UnroutableError as error:
            raise NoRouteError(f"no queue is bound for {event_key(resolved)}") from error
        return resolved


class Parker:
    """Parks an event that arrived over HTTP (no AMQP message to copy) with its reason."""

    def __init__(self, confirmer: Confirmer, queue: WorkQueue, redactor: Redactor) -> None:
        self._confirmer = confirmer
        self._queue = queue
        self._redactor = redactor

    async def park(self, event: CloudEvent[Any], error: PermanentError) -> None:
        """Store the event in the parked queue, confirmed, with the failure headers."""
        failure = Failure(
            queue=self._queue.name,
            routing_key=event_key(event),
            attempts=1,
            reason=error.reason_class,
            error=error,
            error_text=self._redactor.clean(f"{type(error).__name__}: {error}"),
            service="intake",
            version=eventyard_version(),
            at=utc_now(),
        )
        # Replayed, it is processed in the trace of the request that brought it.
        parked = parked_event(event, failure, current_trace())
        await self._confirmer.send("", self._queue.parked, parked)
