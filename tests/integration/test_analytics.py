"""Analytics on the real broker: each provider gets a tracked event once; a failing one is
counted, and nothing is retried, parked or left on the queue."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import utc_now
from services.publisher.app import ANALYTICS_QUEUE
from services.publisher.app import DEFINITION as PUBLISHER
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import Topology, ladder_name
from tests.support.events import connected, emitter_for, queue_depth
from tests.support.services import free_port, running
from tests.support.waiting import eventually
from tests.support.yard_http import served

ANSWERS = {"capability": "c", "dependency": "d", "on_failure": "f", "criticality": "low"}


class Providers:
    """Segment's and PostHog's ingestion paths on one local server; PostHog answers 500."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def app(self) -> Starlette:
        async def track(request: Request) -> Response:
            self.seen.append(("segment", (await request.json())["messageId"]))
            return JSONResponse({"success": True})

        async def capture(request: Request) -> Response:
            self.seen.append(("posthog", (await request.json())["uuid"]))
            return JSONResponse({"error": "down"}, status_code=500)

        return Starlette(
            routes=[
                Route("/v1/track", track, methods=["POST"]),
                Route("/capture/", capture, methods=["POST"]),
            ]
        )


def integrations(url: str) -> IntegrationsFile:
    common = {"base_url": url, "allow_private_network": True, **ANSWERS}
    return IntegrationsFile.model_validate(
        {
            "integrations": {
                "segment": {
                    **common,
                    "auth": "basic",
                    "credentials": ["T_SEGMENT_KEY"],
                    "analytics": "segment",
                },
                "posthog": {**common, "credentials": ["T_POSTHOG_KEY"], "analytics": "posthog"},
            }
        }
    )


async def test_each_provider_gets_it_once_and_a_failure_goes_nowhere(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SEGMENT_KEY", "wk:")
    monkeypatch.setenv("T_POSTHOG_KEY", "phc")
    providers = Providers()
    topology = Topology((ANALYTICS_QUEUE,), tuple(settings.retry.delays), 2)
    url = settings.broker_url.get_secret_value()
    async with (
        served(providers.app(), free_port()) as base,
        connected(url) as connection,
        running(PUBLISHER, settings, topology, integrations(base)),
    ):
        emitter = await emitter_for(connection)
        event = await emitter.publish(
            AnalyticsTrackedV1(event="Signed Up", anonymous_id="anon-1", occurred_at=utc_now())
        )
        await eventually(lambda: len(providers.seen) == 2, timeout=10)
        await asyncio.sleep(1.0)  # past every test rung (0.2-0.6 s): a retry would be back
        assert sorted(providers.seen) == [("posthog", event.id), ("segment", event.id)]
        assert await queue_depth(connection, ANALYTICS_QUEUE.name) == 0
        assert await queue_depth(connection, ANALYTICS_QUEUE.parked) == 0
        for delay in settings.retry.delays:
            assert await queue_depth(connection, ladder_name(delay)) == 0
