"""publisher's steps without a broker: fan-out copies, deliveries, outcomes, 410, best effort."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest

from services.publisher.delivery import Deliverer, Destination
from services.publisher.fanout import DESTINATION_HEADER, fan_out
from services.publisher.metrics import PublisherMetrics
from services.publisher.switches import Disabled, Switches
from shared.config import DestinationConfig
from shared.gateway import policy_for_destination
from shared.gateway.testing import Harness, harness
from shared.testing import HandlerKit, HandlerResult
from tests.support.events import sample_order

ORDER = sample_order("ord_out")
URL = "https://api.example.com/hooks"


class MemorySwitches:
    """Disabled destinations, in memory."""

    def __init__(self) -> None:
        self.off: dict[str, Disabled] = {}

    async def disabled(self, destination: str) -> Disabled | None:
        return self.off.get(destination)

    async def disable(self, destination: str, reason: str) -> None:
        self.off[destination] = Disabled(reason, "now")


def config(policy: str = "reliable") -> DestinationConfig:
    return DestinationConfig.model_validate(
        {"url": URL, "events": ["order.*.v1"], "secrets": ["S"], "policy": policy}
    )


def answering(status: int) -> Callable[[httpx.Request], Any]:
    async def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"ok": status < 300})

    return answer


async def deliver(
    status: int,
    *,
    policy: str = "reliable",
    attempt: int = 1,
    switches: MemorySwitches | None = None,
) -> tuple[HandlerResult, Harness, MemorySwitches]:
    kit = HandlerKit(service="publisher")
    partner = harness(answering(status), policy_for_destination("partner", config(policy)))
    switches = switches or MemorySwitches()
    deliverer = Deliverer(
        Destination("partner", config(policy), ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",)),
        gateway=partner.gateway,
        switches=cast(Switches, switches),
        metrics=PublisherMetrics(kit.metrics.registry),
        redactor=kit.redactor,
        ladder_length=len(kit.topology.delays),
    )
    try:
        result = await kit.run(deliverer, ORDER, attempt=attempt)
    finally:
        await partner.gateway.aclose()
    return result, partner, switches


async def test_fan_out_puts_one_copy_on_each_subscribed_destinations_queue() -> None:
    kit = HandlerKit(service="publisher")
    destinations = {
        "partner": config(),
        "analytics": DestinationConfig.model_validate({"url": URL, "events": ["#"]}),
        "billing": DestinationConfig.model_validate({"url": URL, "events": ["invoice.*.v1"]}),
    }
    handler = fan_out(destinations, kit.confirmer, PublisherMetrics(kit.metrics.registry))
    result = await kit.run(handler, ORDER)
    assert result.acked
    assert sorted(s.routing_key for s in result.sent) == [
        "publisher.dest.analytics",
        "publisher.dest.partner",
    ]
    assert {s.message.headers[DESTINATION_HEADER] for s in result.sent} == {"analytics", "partner"}


async def test_a_delivery_is_a_signed_post_reported_as_succeeded() -> None:
    result, partner, _ = await deliver(200)
    assert result.acked
    [post] = partner.requests
    assert post.headers["webhook-signature"].startswith("v1,")
    assert post.headers["idempotency-key"] == post.headers["webhook-id"]
    [report] = result.published
    assert report.type == "delivery.succeeded"
    assert report.data.status_code == 200


async def test_a_5xx_is_reported_and_retried_on_the_ladder() -> None:
    result, _, _ = await deliver(503)
    assert (result.retried, result.rung) == (True, "retry.5s")
    [report] = result.published
    assert (report.type, report.data.final) == ("delivery.failed", False)


async def test_the_last_attempt_reports_final_and_is_parked_exhausted() -> None:
    result, _, _ = await deliver(503, attempt=4)
    assert (result.parked, result.reason) == (True, "exhausted")
    assert result.published[0].data.final is True


async def test_a_410_parks_the_delivery_and_disables_the_destination() -> None:
    result, _, switches = await deliver(410)
    assert (result.parked, result.reason) == (True, "gone")
    assert "410" in switches.off["partner"].reason


async def test_a_disabled_destination_gets_nothing_and_the_delivery_is_parked() -> None:
    switches = MemorySwitches()
    await switches.disable("partner", "an operator said so")
    result, partner, _ = await deliver(200, switches=switches)
    assert (result.parked, result.reason) == (True, "disabled")
    assert partner.requests == []


@pytest.mark.parametrize("status", [503, 404])
async def test_best_effort_is_tried_once_reported_and_never_parked(status: int) -> None:
    result, partner, _ = await deliver(status, policy="best-effort")
    assert result.acked
    assert len(partner.requests) == 1
    assert (result.published[0].type, result.published[0].data.final) == ("delivery.failed", True)
