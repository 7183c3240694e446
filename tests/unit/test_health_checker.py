"""The health checker when the broker cannot be looked at."""

from __future__ import annotations

from aio_pika.abc import AbstractConnection
from prometheus_client import CollectorRegistry

from services.health.checks import Checker
from services.health.metrics import HealthMetrics
from shared.config import IntegrationsFile
from shared.metrics import Metrics
from shared.redact import Redactor
from shared.service import build_gateway
from shared.settings import HealthSettings
from shared.topology import Topology, WorkQueue

QUEUES = (WorkQueue("order-followup.crm", ("order.created.v1",)), WorkQueue("email.send"))


async def test_a_failed_broker_check_marks_every_queue_unseen() -> None:
    # Given a broker that refuses the connection
    async def refuse() -> AbstractConnection:
        raise ConnectionRefusedError

    topology = Topology(QUEUES, (5.0, 60.0, 60.0), 10)
    checker = Checker(
        settings=HealthSettings(),
        topology=topology,
        integrations={},
        gateway=build_gateway(IntegrationsFile(), Metrics("health"), Redactor()),
        connect=refuse,
        metrics=HealthMetrics(CollectorRegistry()),
    )
    # When a round runs
    findings = {f.component: f for f in await checker.round()}
    # Then no queue keeps a status from an earlier round: each is reported as not checked
    assert findings["broker"].status == "unhealthy"
    queues = {name for name in findings if name.startswith("queue:")}
    assert queues == {
        "queue:order-followup.crm",
        "queue:email.send",
        *(f"queue:{name}" for name in topology.ladder),
    }
    assert {findings[q].reason for q in queues} == {"not checked: the broker check failed"}
    assert {findings[q].status for q in queues} == {"unhealthy"}
