"""health reads the services' /metrics and says which cached queries answer from stale data."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from services.health.reads import ReadWatcher, metrics_policy
from shared.gateway.query import QueryMetrics
from shared.gateway.testing import harness


class Service:
    """A service's /metrics, counting the answers of its cached queries; can be down."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = QueryMetrics(self.registry)
        self.up = True

    def answered(self, served: str, times: int = 1) -> None:
        self.metrics.served.labels("crm", "profile", served).inc(times)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            return httpx.Response(503)
        assert request.url.path == "/metrics"
        return httpx.Response(200, content=generate_latest(self.registry))


async def test_a_query_is_degraded_while_it_answers_stale_and_healthy_again_after() -> None:
    service = Service()
    h = harness(service, metrics_policy("metrics-0", "http://127.0.0.1:8003", 2.0),
                hosts={})  # fmt: skip
    watcher = ReadWatcher(["crm.profile"], h.gateway, ["metrics-0"])
    service.answered("miss", 3)
    [first] = await watcher.round()
    assert (first.component, first.status) == ("read:crm.profile", "healthy")
    service.answered("hit", 5)
    service.answered("stale", 2)
    service.answered("fallback")
    [degraded] = await watcher.round()
    assert degraded.status == "degraded"
    assert degraded.reason == "2 stale and 1 fallback of 8 answers since the last look"
    assert degraded.details["hit"] == 5
    service.answered("hit", 4)
    [healthy] = await watcher.round()
    assert (healthy.status, healthy.reason) == ("healthy", "4 answers since the last look")
    await h.gateway.aclose()


async def test_a_restarted_service_counts_from_zero_and_no_answer_is_not_healthy() -> None:
    service = Service()
    h = harness(service, metrics_policy("metrics-0", "http://127.0.0.1:8003", 2.0), hosts={})
    watcher = ReadWatcher(["crm.profile"], h.gateway, ["metrics-0"])
    service.answered("hit", 10)
    await watcher.round()
    restarted = Service()
    restarted.answered("stale", 1)
    service.__dict__.update(registry=restarted.registry, metrics=restarted.metrics)
    [after] = await watcher.round()
    assert (after.status, after.details["stale"]) == ("degraded", 1)
    service.up = False
    [unseen] = await watcher.round()
    assert unseen.status == "degraded"
    assert "no service answered /metrics" in unseen.reason
    await h.gateway.aclose()
