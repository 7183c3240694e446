"""Delivering one event to one destination: signed POST, outcome events, ladder or parking."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.base import Contract
from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.envelope import CONTENT_TYPE, utc_now
from services.publisher.metrics import PublisherMetrics
from services.publisher.signing import signature_headers
from services.publisher.switches import Switches
from shared.config import DestinationConfig
from shared.consumer import Delivery, Handler
from shared.errors import PermanentError, PublishError, Reason
from shared.gateway import Gateway, GoneError
from shared.redact import Redactor

if TYPE_CHECKING:
    import httpx

EXCERPT_CHARS = 500

log = logging.getLogger(__name__)


class DestinationDisabledError(PermanentError):
    """The destination is disabled (it answered 410, or an operator disabled it)."""

    reason_class = Reason.DISABLED


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
    """The handler of `publisher.dest.<name>`; best-effort ones POST once, never retry or park."""
    name, best_effort = destination.name, destination.config.policy == "best-effort"

    async def deliver(delivery: Delivery[Any]) -> None:
        disabled = await switches.disabled(name)
        if disabled is not None:
            metrics.deliveries.labels(name, "disabled").inc()
            if best_effort:
                # Best-effort is never parked: counted above, logged here, dropped.
                log.warning(
                    "best-effort delivery dropped: the destination is disabled",
                    extra={"destination": name, "reason": disabled.reason},
                )
                return
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
            metrics.deliveries.labels(name, _outcome(error, best_effort)).inc()
            final = best_effort or isinstance(error, PermanentError)
            final = final or delivery.attempt > ladder_length
            await _report(delivery, _failure(delivery, error, started, final=final))
            if isinstance(error, GoneError):
                await _disable(f"HTTP 410 Gone at {utc_now().isoformat()}")
            if best_effort:
                return  # one attempt, never parked: the failure is counted, not raised
            raise
        metrics.deliveries.labels(name, "succeeded").inc()
        await _report(
            delivery,
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
        )

    async def _report(delivery: Delivery[Any], outcome: Contract) -> None:
        try:
            await delivery.publish(outcome, require_route=False)
        except PublishError as error:
            if not best_effort:
                # At least once: the delivery goes back to the ladder, to be made and
                # reported again (receivers dedupe by webhook-id).
                raise
            metrics.reports_lost.labels(name).inc()
            log.warning(
                "best-effort outcome event not published; the delivery is not repeated",
                extra={"destination": name, "error": redactor.clean(str(error))},
            )

    async def _disable(reason: str) -> None:
        try:
            await switches.disable(name, reason)
        except Exception:
            if not best_effort:
                raise
            # Not worth a second POST: the next 410 disables the destination again.
            log.exception("could not disable best-effort destination", extra={"destination": name})

    def _failure(
        delivery: Delivery[Any], error: Exception, started: float, *, final: bool
    ) -> DeliveryFailedV1:
        return DeliveryFailedV1(
            destination=name,
            event_id=delivery.event.id,
            event_type=delivery.event.type,
            attempt=delivery.attempt,
            status_code=getattr(error, "status_code", None),
            duration_ms=_since(started),
            error=redactor.clean(f"{type(error).__name__}: {error}"),
            final=final,
            failed_at=utc_now(),
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
