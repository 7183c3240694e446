"""`[consumers.<name>]`: the queues of a service on the FastStream kit join the yard's topology
(declared by `topology apply`, served by `eventyard parked`), and cannot take a yard queue."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.yard import build_topology
from shared.config import IntegrationsFile
from shared.errors import ConfigError
from shared.parking import own_parked_queue
from shared.settings import Settings

ANSWERS = {"capability": "c", "dependency": "d", "on_failure": "f", "criticality": "low"}


def file(queues: dict[str, Any]) -> IntegrationsFile:
    return IntegrationsFile.model_validate(
        {"consumers": {"loyalty": {"queues": queues, **ANSWERS}}}
    )


def test_a_kit_consumers_queue_is_in_the_topology_and_its_parked_queue_is_the_yards() -> None:
    topology = build_topology(Settings(), file({"loyalty.points": ["order.created.v1"]}))
    queue = topology.queue("loyalty.points")
    assert (queue.bindings, queue.service) == (("order.created.v1",), "loyalty")
    assert own_parked_queue(topology, "loyalty.points") == "loyalty.points.parked"
    assert ("consumer", "loyalty") in [(k, n) for k, n, _ in file({"a": ["x.y.v1"]}).catalogue()]


def test_a_kit_consumer_cannot_take_one_of_the_yards_queues() -> None:
    with pytest.raises(ConfigError, match=r"email\.send is a queue of the yard's own"):
        build_topology(Settings(), file({"email.send": ["email.requested.v1"]}))


@pytest.mark.parametrize(
    "queues",
    [{}, {"loyalty.points.parked": ["order.created.v1"]}, {"Loyalty": ["order.created.v1"]},
     {"loyalty.points": []}, {"loyalty.points": ["order.created"]}],
)  # fmt: skip
def test_a_queue_must_be_a_plain_work_queue_bound_to_contracts(queues: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        file(queues)
