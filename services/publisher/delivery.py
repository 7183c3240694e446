"""Delivering one event to one destination: signed POST, outcome events, ladder or parking."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.envelope import CONTENT_TYPE, utc_now
from services.publisher.metrics import PublisherMetrics
from services.publisher.signing import signature_headers
from services.publisher.switches import Switches
from shared.config import DestinationConfig
from shared.consumer import Delivery, Handler
from shared.errors import PermanentError
from shared.gateway import Gateway, GoneError
from shared.redact import Redactor

EXCERPT_CHARS = 500


class DestinationDisabledError(PermanentError):
    """The destination is disabled (it answered 410, or an operator disabled it)."""

    reason_class = "disabled"


@dataclass(frozen=True)
class Destination:
    """A destination with its signing secrets (values, newest first)."""

    name: str
    config: DestinationConfig
    secrets: tuple[str, ...]


def deliverer(
    destination: Destination,
    *,
    gateway: Gateway,
    switches: Switches,
    metrics: PublisherMetrics,
    redactor: Redactor,
    ladder_length: int,
    clock: Callable[[], float] = time.time,
) -> Handler:
    """The handler of `publisher.dest.<name>`."""
    name, best_effort = destination.name, destination.config.policy == "best-effort"

    async def deliver(delivery: Delivery[Any]) -> None:
        disabled = await switches.disabled(name)
        if disabled is not None:
            metrics.deliveries.labels(name, "disabled").inc()
            raise DestinationDisabledError(f"{name} is disabled: {disabled.reason}")
        body = delivery.message.body
        headers = signature_headers(destination.secrets, delivery.event.id, int(clock()), body)
        headers["content-type"] = CONTENT_TYPE
        started = time.perf_counter()
        try:
            response = await gateway.request(
                name, "POST", content=body, headers=headers, idempotency_key=delivery.event.id
            )
        except Exception as error:
            final = best_effort or isinstance(error, PermanentError)
            final = final or delivery.attempt > ladder_length
            await _report_failure(delivery, name, error, started, final=final)
            if isinstance(error, GoneError):
                await switches.disable(name, f"HTTP 410 Gone at {utc_now().isoformat()}")
            outcome = _outcome(error, best_effort)
            metrics.deliveries.labels(name, outcome).inc()
            if best_effort:
                return  # one attempt, never parked: the failure is counted, not raised
            raise
        metrics.deliveries.labels(name, "succeeded").inc()
        await delivery.publish(
            DeliverySucceededV1(
                destination=name,
                event_id=delivery.event.id,
                event_type=delivery.event.type,
                attempt=delivery.attempt,
                status_code=response.status_code,
                duration_ms=_since(started),
                response_excerpt=_excerpt(response, redactor),
                delivered_at=utc_now(),
            ),
            require_route=False,
        )

    async def _report_failure(
        delivery: Delivery[Any], name: str, error: Exception, started: float, *, final: bool
    ) -> None:
        await delivery.publish(
            DeliveryFailedV1(
                destination=name,
                event_id=delivery.event.id,
                event_type=delivery.event.type,
                attempt=delivery.attempt,
                status_code=getattr(error, "status_code", None),
                duration_ms=_since(started),
                error=redactor.clean(f"{type(error).__name__}: {error}"),
                final=final,
                failed_at=utc_now(),
            ),
            require_route=False,
        )

    return deliver


def _outcome(error: Exception, best_effort: bool) -> str:
    if best_effort:
        return "best_effort_failed"
    if isinstance(error, GoneError):
        return "gone"
    return "permanent" if isinstance(error, PermanentError) else "transient"


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _excerpt(response: httpx.Response, redactor: Redactor) -> str:
    return redactor.clean(response.text, EXCERPT_CHARS)
