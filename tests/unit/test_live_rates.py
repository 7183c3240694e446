"""The console's live page: rates per service read off the services' own /metrics, restarts
counted from zero, and each breaker's worst state across processes."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from services.health.live import LiveRates, read_metrics, sparkline
from services.intake.metrics import IntakeMetrics
from shared.errors import TransientError
from shared.gateway.metrics import GatewayMetrics
from shared.metrics import Metrics


def exposition(service: str, *, acked: int, retried: int = 0, breaker: str | None = None) -> str:
    metrics = Metrics(service)
    metrics.consumed.labels(service, f"{service}.q", "acked").inc(acked)
    metrics.consumed.labels(service, f"{service}.q", "retried").inc(retried)
    metrics.count_published("order.created")
    if breaker is not None:
        GatewayMetrics(metrics.registry).watch_breaker("crm", lambda: breaker)  # type: ignore[arg-type,return-value]
    return generate_latest(metrics.registry).decode()


def test_the_series_are_read_per_service_with_the_breaker_states() -> None:
    totals, breakers = read_metrics(exposition("publisher", acked=5, retried=2, breaker="open"))
    assert totals[("publisher", "handled")] == 5
    assert totals[("publisher", "retried")] == 2
    assert totals[("publisher", "published")] == 1
    assert breakers == {"crm": "open"}
    registry = CollectorRegistry()
    IntakeMetrics(registry).requests.labels("shop", "accepted").inc(3)
    intake, _ = read_metrics(generate_latest(registry).decode())
    assert intake == {("intake", "webhooks"): 3}


class Scripted:
    """A gateway whose /metrics answers are set by the test, per endpoint."""

    def __init__(self) -> None:
        self.answers: dict[str, str | None] = {}

    async def request(self, endpoint: str, method: str, path: str, **_: Any) -> httpx.Response:
        text = self.answers.get(endpoint)
        if text is None:
            raise TransientError("down")
        return httpx.Response(200, text=text)


async def test_rates_over_the_last_minute_with_a_restart_counted_from_zero() -> None:
    now = [0.0]
    gateway = Scripted()
    live = LiveRates(gateway, ["a", "b"], every=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert live.rates() == []  # one sample is not a rate
    handled = [0, 50, 100, 10]  # the last: the service restarted and counted 10 since
    for n, count in enumerate(handled):
        now[0] = n * 5.0
        gateway.answers = {"a": exposition("email", acked=count), "b": None}  # b is down
        await live.sample()
    [email] = live.rates()
    assert email.service == "email"
    # over the last 15 s: 50 + 50 + 10 handled
    assert email.last_minute["handled"] == (50 + 50 + 10) / 15
    assert email.handled == [10.0, 10.0, 2.0]


async def test_a_breaker_open_in_any_process_shows_open() -> None:
    gateway = Scripted()
    live = LiveRates(gateway, ["a", "b"])  # type: ignore[arg-type]
    gateway.answers = {
        "a": exposition("order-followup", acked=1, breaker="closed"),
        "b": exposition("order-followup", acked=1, breaker="open"),
    }
    await live.sample()
    assert live.breakers() == {"crm": "open"}


def test_a_sparkline_of_nothing_is_flat_and_of_something_within_its_box() -> None:
    assert sparkline([]) == ""
    assert sparkline([0.0, 0.0]) == "0.0,31.0 240.0,31.0"
    points = [tuple(map(float, p.split(","))) for p in sparkline([1.0, 4.0, 2.0]).split()]
    assert all(0 <= x <= 240 and 0 <= y <= 32 for x, y in points)
    assert points[1][1] == 1.0  # the highest at the top
