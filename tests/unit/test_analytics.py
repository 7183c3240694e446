"""Analytics: each provider's adapter against a stand-in checking its documented ingestion shape,
and the tracker's fire-and-forget (counted, never retried, parked or raised; never held up)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import utc_now
from services.publisher.analytics import analytics_providers
from services.publisher.analytics.base import AnalyticsProvider
from services.publisher.analytics.posthog import PostHogProvider
from services.publisher.analytics.segment import SegmentProvider
from services.publisher.analytics.tracker import Tracker
from services.publisher.metrics import PublisherMetrics
from shared.config import IntegrationConfig
from shared.errors import ConfigError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import harness
from shared.publishing import build_event
from shared.redact import Redactor
from shared.testing import HandlerKit

TRACKED = AnalyticsTrackedV1(
    event="Order Completed",
    user_id="cus_1042",
    properties={"order_id": "ord_1", "revenue": 17.98},
    occurred_at=utc_now(),
)
PUBLIC = {"api.segment.example": ["93.184.215.14"], "eu.posthog.example": ["93.184.215.14"]}
SEGMENT = EndpointPolicy("segment", "https://api.segment.example", auth="basic",
                         credentials=("SEGMENT_KEY",), max_retries=0)  # fmt: skip
POSTHOG = EndpointPolicy("posthog", "https://eu.posthog.example", max_retries=0)


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENT_KEY", "wk_test:")
    monkeypatch.setenv("POSTHOG_KEY", "phc_test")


class StandIn:
    """Both providers' ingestion endpoints as documented; `status` and `delay` misbehave."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay
        self.bodies: dict[str, Any] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        body = orjson.loads(request.content)
        if request.headers["host"] == "api.segment.example":  # the URL names the pinned address
            assert (request.method, request.url.path) == ("POST", "/v1/track")
            assert request.headers["authorization"] == "Basic d2tfdGVzdDo="  # "wk_test:"
            self.bodies["segment"] = body
            answer: Any = {"success": True}
        else:
            assert (request.method, request.url.path) == ("POST", "/capture/")
            assert "authorization" not in request.headers
            self.bodies["posthog"] = body
            answer = {"status": 1}
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "Invalid request"})
        return httpx.Response(200, json=answer)


async def test_segment_and_posthog_get_their_documented_bodies() -> None:
    stand_in = StandIn()
    h = harness(stand_in, SEGMENT, POSTHOG, hosts=PUBLIC)
    event = build_event(TRACKED, source="/shop")
    await SegmentProvider("segment", h.gateway).track(event)
    await PostHogProvider("posthog", h.gateway, "POSTHOG_KEY").track(event)
    segment, posthog = stand_in.bodies["segment"], stand_in.bodies["posthog"]
    assert (segment["userId"], segment["event"], segment["messageId"]) == (
        "cus_1042", "Order Completed", event.id,
    )  # fmt: skip
    assert segment["properties"] == {"order_id": "ord_1", "revenue": 17.98}
    assert "anonymousId" not in segment
    assert (posthog["api_key"], posthog["distinct_id"], posthog["uuid"]) == (
        "phc_test", "cus_1042", event.id,
    )  # fmt: skip
    assert posthog["properties"]["$lib"] == "eventyard"
    await h.gateway.aclose()


def tracker(h: Any, timeout: float = 1.0) -> tuple[Tracker, CollectorRegistry]:
    registry = CollectorRegistry()
    providers: list[AnalyticsProvider] = [
        SegmentProvider("segment", h.gateway),
        PostHogProvider("posthog", h.gateway, "POSTHOG_KEY"),
    ]
    metrics = PublisherMetrics(registry)
    return Tracker(providers, metrics=metrics, redactor=Redactor(), timeout=timeout), registry


def count(registry: CollectorRegistry, provider: str, outcome: str) -> float:
    labels = {"provider": provider, "outcome": outcome}
    return registry.get_sample_value("eventyard_analytics_events_total", labels) or 0.0


async def test_a_failing_provider_is_counted_never_retried_parked_or_raised() -> None:
    stand_in = StandIn(status=500)
    h = harness(stand_in, SEGMENT, POSTHOG, hosts=PUBLIC)
    handler, registry = tracker(h)
    result = await HandlerKit(service="publisher").run(handler, TRACKED)
    assert result.acked
    assert len(h.requests) == 2  # one call to each, no retry
    assert count(registry, "segment", "failed") == count(registry, "posthog", "failed") == 1
    await h.gateway.aclose()


async def test_a_hanging_provider_holds_up_neither_the_other_nor_the_queue() -> None:
    async def split(request: httpx.Request) -> httpx.Response:
        if request.headers["host"] == "api.segment.example":
            await asyncio.sleep(30)
        return httpx.Response(200, json={"status": 1})

    h = harness(split, SEGMENT, POSTHOG, hosts=PUBLIC)
    handler, registry = tracker(h, timeout=0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await HandlerKit(service="publisher").run(handler, TRACKED)
    assert loop.time() - started < 1.0  # the tracker's limit, not the provider's 30 s
    assert result.acked
    assert (count(registry, "posthog", "sent"), count(registry, "segment", "failed")) == (1, 1)
    await h.gateway.aclose()


def test_an_integration_names_its_adapter_and_an_unknown_one_is_refused() -> None:
    gateway = Gateway([], registry=CollectorRegistry(), redactor=Redactor())
    tables = {
        "segment": IntegrationConfig(base_url="https://api.segment.io", analytics="segment"),
        "crm": IntegrationConfig(base_url="https://crm.example.com"),
    }
    assert [p.name for p in analytics_providers(tables, gateway)] == ["segment"]
    odd = {"x": IntegrationConfig(base_url="https://x.example.com", analytics="mixpanel")}
    with pytest.raises(ConfigError, match="is none of segment, posthog"):
        analytics_providers(odd, gateway)
    keyless = {"ph": IntegrationConfig(base_url="https://eu.i.posthog.com", analytics="posthog")}
    with pytest.raises(ConfigError, match="needs the project API key"):
        analytics_providers(keyless, gateway)


def test_an_event_happens_to_someone() -> None:
    with pytest.raises(ValueError, match="user_id or anonymous_id"):
        AnalyticsTrackedV1(event="x", occurred_at=utc_now())


@pytest.mark.parametrize(
    "properties",
    [{"note": "x" * 1001}, {"tags": ["a"] * 101}, {"tags": ["x" * 1001]}, {"k" * 101: 1}],
)
def test_every_field_of_a_tracked_event_is_bounded(properties: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="at most"):
        AnalyticsTrackedV1.model_validate(
            {"event": "x", "user_id": "u", "occurred_at": utc_now(), "properties": properties}
        )
