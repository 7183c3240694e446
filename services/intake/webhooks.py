"""`POST /webhooks/{source}`: verify, validate, publish with confirm, and only then answer 202."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from contracts.base import INTAKE_HTTP
from contracts.envelope import MAX_ID, MAX_TYPE, CloudEvent, new_event_id
from contracts.webhooks import WebhookReceivedV1
from services.intake.dedupe import Deduplicator
from services.intake.metrics import IntakeMetrics
from services.intake.routing import NoRouteError, Parker, Router
from services.intake.signatures import VerificationError, verify
from services.intake.sources import Source, received_event
from shared.attempts.reporter import AttemptReporter, Pending
from shared.bounded_json import JsonTooDeepError, check_depth
from shared.errors import ContractError, PublishError
from shared.request_body import (
    BodyBudget,
    BodyTooLargeError,
    BudgetExhaustedError,
    Hold,
    read_limited,
)

RETRY_AFTER_SECONDS = "5"
RETRY = {"Retry-After": RETRY_AFTER_SECONDS}
MAX_WEBHOOK_ID = MAX_ID
MAX_PROVIDER_TYPE = MAX_TYPE  # WebhookReceivedV1.provider_type's limit
PLAIN_ENCODINGS = frozenset({"", "identity"})


class JsonResponse(JSONResponse):
    """Starlette's JSON answer rendered by orjson: the same compact bytes, at a fraction of the
    cost of `json.dumps` (every webhook is answered with one)."""

    def render(self, content: Any) -> bytes:
        """The body, as compact UTF-8 JSON."""
        return orjson.dumps(content)


class RefusalError(HTTPException):
    """A request refused with a short reason (answered by the app's HTTP error handler)."""

    def __init__(
        self,
        source: str,
        outcome: str,
        status: int,
        reason: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, reason, headers)
        self.source, self.outcome = source, outcome


@dataclass(frozen=True, slots=True)
class InboundWebhook:
    """A verified webhook delivery: its dedupe key (signed), the id it is shown by, its body."""

    key: str
    webhook_id: str
    payload: Any


class WebhookEndpoint:
    """The Starlette endpoint for every source."""

    def __init__(
        self,
        sources: Mapping[str, Source],
        *,
        router: Router,
        parker: Parker,
        metrics: IntakeMetrics,
        dedupe: Deduplicator,
        budget: BodyBudget,
        reporter: AttemptReporter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sources = sources
        self._router = router
        self._parker = parker
        self._metrics = metrics
        self._dedupe = dedupe
        self._budget = budget
        self._reporter = reporter
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        """Handle one delivery; every refusal is answered here, in one place."""
        started = time.perf_counter()
        with self._budget.hold() as hold:  # the body is held until it is stored
            try:
                source = self._source(request)
                body = await self._body(request, source, hold)
                delivery = self._verify(request, source, body)
                event = self._event(source, delivery, request)
                return await self._store(source, event, delivery.key, started)
            except RefusalError as refusal:
                self._metrics.count(refusal.source, refusal.outcome)
                if refusal.outcome != "unknown_source":  # no source to file it under
                    self._report(
                        refusal.source,
                        new_event_id(),  # nothing verified names it
                        "unavailable" if refusal.status_code == 503 else "refused",
                        status=refusal.status_code,
                        started=started,
                        why=(refusal.outcome, refusal.detail),
                    )
                raise

    def _report(
        self,
        source: str,
        event_id: str,
        outcome: str,
        *,
        status: int,
        started: float,
        why: tuple[str, str] | None = None,
    ) -> None:
        """One inbound webhook for the attempts log: what it became, or why it was refused."""
        if self._reporter is None:
            return
        self._reporter.add(
            Pending(
                event_id,
                WebhookReceivedV1.TYPE,
                "webhook",
                source,
                1,
                time.time(),
                outcome,
                round((time.perf_counter() - started) * 1000, 1),
                status,
                *(why or (None, None)),
            )
        )

    def _source(self, request: Request) -> Source:
        source = self._sources.get(request.path_params["source"])
        if source is None:
            raise RefusalError("unknown", "unknown_source", 404, "unknown source")
        return source

    async def _body(self, request: Request, source: Source, hold: Hold) -> bytes:
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in PLAIN_ENCODINGS:
            # The signature covers the bytes as sent; decoding them here would mean inflating
            # an attacker's bomb before anything is verified. No provider compresses webhooks.
            raise RefusalError(
                source.name, "encoded", 415, "Content-Encoding is not accepted; send plain JSON"
            )
        limit = source.config.max_body_bytes
        try:
            return await read_limited(request, limit, hold)
        except BudgetExhaustedError:
            raise RefusalError(
                source.name, "busy", 503, "too many webhooks in flight; retry shortly", RETRY
            ) from None
        except BodyTooLargeError:
            raise RefusalError(
                source.name, "too_large", 413, f"body over the {limit}-byte limit"
            ) from None
        except ClientDisconnect:
            raise RefusalError(
                source.name, "disconnected", 400, "the client went away mid-body"
            ) from None

    def _verify(self, request: Request, source: Source, body: bytes) -> InboundWebhook:
        """The parsed body of a correctly signed request, and how its delivery is named."""
        config, started = source.config, time.perf_counter()
        try:
            verified = verify(
                config.scheme,
                body=body,
                headers=request.headers,
                secrets=source.secrets,
                tolerance_seconds=config.tolerance_seconds,
                now=self._clock(),
                signature_header=config.signature_header,
                signature_encoding=config.signature_encoding,
                id_header=config.id_header,
            )
        except VerificationError as error:
            raise RefusalError(
                source.name, error.reason.replace(" ", "_"), 401, error.reason
            ) from None
        finally:
            self._metrics.verified(source.name, time.perf_counter() - started)
        self._metrics.secret(source.name, verified.secret_index)
        try:
            check_depth(body)
            payload = orjson.loads(body)
        except JsonTooDeepError as error:
            raise RefusalError(source.name, "too_deep", 400, f"the body's {error}") from None
        except orjson.JSONDecodeError:
            raise RefusalError(source.name, "not_json", 400, "the body is not JSON") from None
        # Deduplication rests only on what the signature covers: a signed id, or the body.
        signed_id = verified.webhook_id or _body_id(source, payload)
        key = signed_id or _digest(body)
        webhook_id = signed_id or verified.unsigned_id or key
        if len(webhook_id) > MAX_WEBHOOK_ID or len(key) > MAX_WEBHOOK_ID:
            raise RefusalError(source.name, "bad_id", 400, "the webhook id is too long")
        return InboundWebhook(key, webhook_id, payload)

    async def _store(
        self, source: Source, event: CloudEvent[Any], webhook_id: str, started: float
    ) -> Response:
        parked: list[str] = []

        async def publish() -> str:
            started = time.perf_counter()
            try:
                return (await self._router.publish(event, INTAKE_HTTP)).id
            except (ContractError, NoRouteError) as error:
                # Stored all the same: parked with the reason, for an operator to replay.
                await self._parker.park(event, error)
                parked.append(error.reason_class)
            finally:
                self._metrics.published(source.name, time.perf_counter() - started)
            return event.id

        try:
            event_id, repeat = await self._dedupe.once(f"{source.name}:{webhook_id}", publish)
        except PublishError:
            raise RefusalError(
                source.name, "broker_unavailable", 503, "not stored; retry later", RETRY
            ) from None
        if repeat:
            self._metrics.count(source.name, "duplicate")
            self._report(source.name, event_id, "duplicate", status=200, started=started)
            return JsonResponse({"event_id": event_id, "duplicate": True}, status_code=200)
        outcome = "parked" if parked else "accepted"
        self._metrics.count(source.name, outcome)
        why = (parked[0], "stored, not routed: parked for an operator") if parked else None
        self._report(source.name, event_id, outcome, status=202, started=started, why=why)
        answer: dict[str, Any] = {"event_id": event_id}
        if parked:
            answer["parked"] = parked[0]
        return JsonResponse(answer, status_code=202)

    def _event(self, source: Source, delivery: InboundWebhook, request: Request) -> CloudEvent[Any]:
        payload = delivery.payload
        # GitHub names the event only in a header its signature does not cover (SECURITY.md).
        provider_type = (
            request.headers.get("x-github-event")
            if source.config.scheme == "github"
            else payload.get("type")
            if isinstance(payload, dict)
            else None
        )
        if not isinstance(provider_type, str):
            provider_type = None  # a body's `type` that is not text names no event type
        elif len(provider_type) > MAX_PROVIDER_TYPE:
            raise RefusalError(
                source.name,
                "bad_type",
                400,
                f"the event type is over the {MAX_PROVIDER_TYPE}-character limit",
            )
        try:
            return received_event(
                source.name, delivery.webhook_id, provider_type, payload, key=delivery.key
            )
        except ContractError as error:
            raise RefusalError(
                source.name, "invalid_event", 400, f"not a valid event: {error}"
            ) from None


def _body_id(source: Source, payload: Any) -> str | None:
    # Stripe puts the delivery's event id in the body, not in a header.
    if source.config.scheme == "stripe" and isinstance(payload, dict):
        value = payload.get("id")
        return value if isinstance(value, str) and value else None
    return None


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
