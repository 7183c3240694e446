"""health without a broker: an integration's change of health is announced once, others not."""

from __future__ import annotations

from services.health.app import announce
from services.health.report import Finding, HealthReport
from shared.testing import HandlerKit

CRITICALITY = {"crm": "low"}


async def rounds(*findings: list[Finding]) -> list[str]:
    """The integrations announced after each round, in order."""
    kit, report = HandlerKit(service="health"), HealthReport()
    for found in findings:
        for change in report.record(found):
            await announce(kit.emitter, change, CRITICALITY)
    return [s.event()["data"]["integration"] for s in kit.broker.published()]


async def test_an_integration_going_down_and_back_is_announced_each_time() -> None:
    down = Finding("integration:crm", "unhealthy", "GET /health timed out")
    up = Finding("integration:crm", "healthy", "200")
    assert await rounds([up], [down], [down], [up]) == ["crm", "crm"]


async def test_the_first_look_at_a_healthy_integration_is_not_news() -> None:
    assert await rounds([Finding("integration:crm", "healthy", "200")]) == []


async def test_queues_and_the_broker_are_not_announced_as_integrations() -> None:
    found = [Finding("queue:email.send", "degraded", "1,200 waiting")]
    assert await rounds(found, [Finding("broker", "unhealthy", "refused")]) == []
