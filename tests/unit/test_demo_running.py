"""The demo reads the running services' topology from `/health` instead of assuming its own."""

from __future__ import annotations

import pytest

from cli.demo.running import Running, ladder_delay
from shared.config import IntegrationConfig, IntegrationsFile
from shared.settings import PRODUCTION_DELAYS
from shared.topology import Topology, WorkQueue, ladder_name

ANSWERS = {"capability": "c", "dependency": "d", "on_failure": "f", "criticality": "low"}


@pytest.mark.parametrize("delay", [0.2, 0.5, 1, 5, 30, 120, 600, 3600, 36000, 1.5])
def test_a_step_name_gives_back_its_delay(delay: float) -> None:
    assert ladder_delay(ladder_name(delay)) == pytest.approx(delay)


@pytest.mark.parametrize("name", ["order-followup.crm", "retry.", "retry.5x", "retry.s"])
def test_names_that_are_not_steps_have_no_delay(name: str) -> None:
    assert ladder_delay(name) is None


def test_the_health_report_gives_queues_ladder_and_integrations() -> None:
    components: dict[str, object] = {
        "broker": {},
        "queue:email.send": {},
        "queue:order-followup.crm": {},
        "integration:crm": {},
        **{f"queue:{ladder_name(d)}": {} for d in PRODUCTION_DELAYS},
    }

    running = Running.from_health(components)

    assert running.queues == {"email.send", "order-followup.crm"}
    assert running.integrations == {"crm"}
    assert running.delays == tuple(sorted(set(PRODUCTION_DELAYS)))


def test_what_the_demo_needs_and_the_services_lack_is_named() -> None:
    running = Running(frozenset({"email.send"}), frozenset(), (5.0,))
    topology = Topology((WorkQueue("email.send"), WorkQueue("publisher.fanout")), (1.0,), 10)
    crm = IntegrationConfig.model_validate({"base_url": "http://127.0.0.1:9", **ANSWERS})
    integrations = IntegrationsFile(integrations={"crm": crm})

    assert running.lacks(topology, integrations) == [
        "[integrations.crm]",
        "queue publisher.fanout",
    ]
