"""Malformed headers and bodies at the webhook endpoint: never a 500, never a publish."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any, cast

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route

from contracts.attempts import AttemptRecord
from contracts.envelope import CloudEvent
from services.intake.dedupe import Deduplicator
from services.intake.metrics import IntakeMetrics
from services.intake.routing import Parker, Router
from services.intake.sources import Source
from services.intake.webhooks import MAX_PROVIDER_TYPE, WebhookEndpoint
from shared.attempts.model import Attempt
from shared.attempts.reporter import AttemptReporter
from shared.config import SourceConfig
from shared.http import json_app
from shared.metrics import Metrics
from shared.publishing import Emitter
from shared.request_body import BodyBudget
from tests.support import signing

SECRET = "whsec_" + base64.b64encode(b"fuzz-secret-0123456789").decode()
HEADER_NAMES = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "x-signature",
    "content-length",
    "content-type",
]
ALLOWED = {200, 202, 400, 401, 404, 405, 413, 415}


class RecordingRouter:
    def __init__(self) -> None:
        self.published: list[CloudEvent[Any]] = []

    async def publish(self, event: CloudEvent[Any], door: str) -> CloudEvent[Any]:
        self.published.append(event)
        return event


def app_for(
    router: RecordingRouter,
    sources: Mapping[str, Source] | None = None,
    reporter: AttemptReporter | None = None,
) -> Starlette:
    sources = sources or {
        scheme.split("-")[0]: Source(
            scheme.split("-")[0],
            SourceConfig(scheme=scheme, secrets=["S"], max_body_bytes=4096),
            (SECRET,),
        )
        for scheme in ("standard-webhooks", "stripe", "github", "hmac-sha256")
    }
    endpoint = WebhookEndpoint(
        sources,
        router=cast(Router, router),
        parker=cast(Parker, None),
        metrics=IntakeMetrics(CollectorRegistry()),
        dedupe=Deduplicator(),
        budget=BodyBudget(64 * 1024 * 1024),
        reporter=reporter,
    )
    return json_app([Route("/webhooks/{source}", endpoint.handle, methods=["POST"])])


def post(app: Starlette, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(["standard", "stripe", "github", "hmac", "nope", "%2e%2e"]),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=6),
    body=st.one_of(st.binary(max_size=6000), st.text(max_size=300).map(str.encode)),
)
def test_garbage_is_refused_cleanly_and_never_published(
    source: str, headers: dict[str, str], body: bytes
) -> None:
    headers.pop("content-length", None)  # a lying length is the transport's business
    router = RecordingRouter()
    reporter = AttemptReporter("intake", cast(Emitter, None), Metrics("intake"))
    answer = post(app_for(router, reporter=reporter), f"/webhooks/{source}", body, headers)
    assert answer.status_code in ALLOWED - {200, 202}
    assert "error" in answer.json()
    assert router.published == []
    # Told to the attempts log as refused, under a known source only, and always a valid record
    records = reporter.waiting
    if answer.status_code == 404:
        assert records == ()
    else:
        [record] = records
        assert (record.kind, record.outcome, record.status_code) == (
            "webhook", "refused", answer.status_code
        )  # fmt: skip
        assert AttemptRecord.model_validate(
            {name: getattr(record, name) for name in Attempt.__slots__}
        )


@settings(max_examples=150, deadline=None)
@given(body=st.one_of(st.binary(max_size=3000), st.text(max_size=300).map(str.encode)))
def test_correctly_signed_odd_bodies_are_accepted_or_refused_never_500(body: bytes) -> None:
    router = RecordingRouter()
    try:
        headers = signing.standard_webhooks(SECRET, body, "msg_fuzz")
    except UnicodeDecodeError:
        return  # the official signer takes text; raw bytes are covered above
    answer = post(app_for(router), "/webhooks/standard", body, headers)
    assert answer.status_code in {202, 400}
    assert len(router.published) == (1 if answer.status_code == 202 else 0)


header_characters = st.characters(min_codepoint=33, max_codepoint=126)
odd_types = st.one_of(
    st.text(min_size=150, max_size=400),
    st.text(st.characters(codec="utf-8"), max_size=60),
    st.text(st.characters(max_codepoint=31), max_size=60),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(0, 9), max_size=3),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(provider_type=odd_types)
def test_a_signed_body_with_an_odd_type_is_accepted_or_refused_never_500(
    provider_type: object,
) -> None:
    router = RecordingRouter()
    body = orjson.dumps({"type": provider_type, "data": {"order_id": "ord_1"}})
    headers = signing.standard_webhooks(SECRET, body, "msg_odd_type")
    answer = post(app_for(router), "/webhooks/standard", body, headers)
    expect_refusal = isinstance(provider_type, str) and len(provider_type) > MAX_PROVIDER_TYPE
    assert answer.status_code == (400 if expect_refusal else 202)
    if expect_refusal:
        assert answer.json() == {"error": "the event type is over the 200-character limit"}
        assert router.published == []
    else:
        [event] = router.published
        expected = provider_type if isinstance(provider_type, str) else None
        assert event.data.provider_type == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=st.one_of(
        st.text(header_characters, max_size=40),
        st.text(header_characters, min_size=190, max_size=400),
    )
)
def test_a_signed_github_delivery_with_an_odd_event_header_is_never_500(event: str) -> None:
    router = RecordingRouter()
    headers = signing.github(SECRET, b"{}", event=event)
    answer = post(app_for(router), "/webhooks/github", b"{}", headers)
    assert answer.status_code == (400 if len(event) > MAX_PROVIDER_TYPE else 202)
    assert len(router.published) == (1 if answer.status_code == 202 else 0)
