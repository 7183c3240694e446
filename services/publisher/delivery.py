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
from shared.consumer import Incoming
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


class Deliverer:
    """The handler of `publisher.dest.<name>`: POST each event to the destination, signed.

    A reliable destination's failures climb the ladder or are parked; a best-effort one's are
    counted and dropped (one attempt, never parked). Either way every attempt is reported as
    `delivery.succeeded.v1` or `delivery.failed.v1`, and a 410 disables the destination.
    """

    def __init__(
        self,
        destination: Destination,
        *,
        gateway: Gateway,
        switches: Switches,
        metrics: PublisherMetrics,
        redactor: Redactor,
        ladder_length: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._destination = destination
        self._name = destination.name
        self._best_effort = destination.config.policy == "best-effort"
        self._gateway = gateway
        self._switches = switches
        self._metrics = metrics
        self._redactor = redactor
        self._ladder_length = ladder_length
        self._clock = clock
        # Bound once: the success path runs per delivery, `labels()` per call would too.
        self._succeeded = metrics.deliveries.labels(destination.name, "succeeded")

    async def __call__(self, incoming: Incoming[Any]) -> None:
        """Deliver one event (the consumer's handler)."""
        if await self._skipped_while_disabled(incoming):
            return
        started = time.perf_counter()
        try:
            response = await self._send(incoming)
        except Exception as error:
            await self._failed(incoming, error, started)
            if not self._best_effort:
                raise
            incoming.gave_up(error)  # one attempt, never parked: counted and logged, not raised
            return
        self._succeeded.inc()
        succeeded = self._success(incoming, response, started)
        incoming.answered(succeeded.status_code, succeeded.response_excerpt)
        await self._report(incoming, succeeded)

    async def _skipped_while_disabled(self, incoming: Incoming[Any]) -> bool:
        """True for a best-effort delivery to a disabled destination; raises for a reliable one."""
        disabled = await self._switches.disabled(self._name)
        if disabled is None:
            return False
        self._metrics.deliveries.labels(self._name, "disabled").inc()
        error = DestinationDisabledError(f"{self._name} is disabled: {disabled.reason}")
        if not self._best_effort:
            raise error
        incoming.gave_up(error)
        log.warning(
            "best-effort delivery dropped: the destination is disabled",
            extra={"destination": self._name, "reason": disabled.reason},
        )
        return True

    async def _send(self, incoming: Incoming[Any]) -> httpx.Response:
        """The signed POST, through the gateway, keyed by the event id."""
        body = incoming.message.body
        event_id = incoming.event.id
        headers = signature_headers(self._destination.secrets, event_id, int(self._clock()), body)
        headers["content-type"] = CONTENT_TYPE
        return await self._gateway.request(
            self._name, "POST", content=body, headers=headers, idempotency_key=event_id
        )

    async def _failed(self, incoming: Incoming[Any], error: Exception, started: float) -> None:
        """Count and report a failed attempt; a 410 also disables the destination."""
        self._metrics.deliveries.labels(self._name, self._outcome(error)).inc()
        final = self._best_effort or isinstance(error, PermanentError)
        final = final or incoming.attempt > self._ladder_length
        await self._report(incoming, self._failure(incoming, error, started, final=final))
        if isinstance(error, GoneError):
            await self._disable(f"HTTP 410 Gone at {utc_now().isoformat()}")

    async def _report(self, incoming: Incoming[Any], outcome: Contract) -> None:
        """Publish the outcome event; for a reliable destination a lost one is a retry."""
        try:
            await incoming.publish(outcome, require_route=False)
        except PublishError as error:
            if not self._best_effort:
                # At least once: the delivery goes back to the ladder, to be made and reported
                # again (receivers dedupe by webhook-id).
                raise
            self._metrics.reports_lost.labels(self._name).inc()
            log.warning(
                "best-effort outcome event not published; the delivery is not repeated",
                extra={"destination": self._name, "error": self._redactor.clean(str(error))},
            )

    async def _disable(self, reason: str) -> None:
        """Switch the destination off until an operator enables it again."""
        try:
            await self._switches.disable(self._name, reason)
        except Exception:
            if not self._best_effort:
                raise
            # Not worth a second POST: the next 410 disables the destination again.
            log.exception(
                "could not disable best-effort destination", extra={"destination": self._name}
            )

    def _success(
        self, incoming: Incoming[Any], response: httpx.Response, started: float
    ) -> DeliverySucceededV1:
        return DeliverySucceededV1(
            destination=self._name,
            event_id=incoming.event.id,
            event_type=incoming.event.type,
            attempt=incoming.attempt,
            status_code=response.status_code,
            duration_ms=_since(started),
            response_excerpt=self._redactor.clean(response.text, EXCERPT_CHARS),
            delivered_at=utc_now(),
        )

    def _failure(
        self, incoming: Incoming[Any], error: Exception, started: float, *, final: bool
    ) -> DeliveryFailedV1:
        return DeliveryFailedV1(
            destination=self._name,
            event_id=incoming.event.id,
            event_type=incoming.event.type,
            attempt=incoming.attempt,
            status_code=getattr(error, "status_code", None),
            duration_ms=_since(started),
            error=self._redactor.clean(f"{type(error).__name__}: {error}"),
            final=final,
            failed_at=utc_now(),
        )

    def _outcome(self, error: Exception) -> str:
        if self._best_effort:
            return "best_effort_failed"
        if isinstance(error, GoneError):
            return "gone"
        return "permanent" if isinstance(error, PermanentError) else "transient"


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
