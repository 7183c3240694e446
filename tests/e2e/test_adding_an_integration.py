"""Adding an integration is one module and one table (docs/adding-an-integration.md).

A toy loyalty step, written as a user would in a package of their own, is named by one
`[integrations.loyalty]` table: `eventyard integrations` lists it with its four answers, and
order-followup runs it on its own queue, calling the loyalty API for every paid order.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.order_followup.app import DEFINITION as ORDER_FOLLOWUP
from services.yard import build_topology
from shared.config import load_integrations
from shared.settings import Settings
from tests.support.cli import environment
from tests.support.events import connected, emitter_for, queue_depth, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.services import running
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

TOY_MODULE = '''
"""A loyalty step: award points for every paid order (the worked example's module)."""

from shared.consumer import Handler, Incoming
from shared.gateway import Gateway


def award_points(gateway: Gateway, integration: str) -> Handler:
    async def award(incoming: Incoming) -> None:
        order = incoming.data
        await gateway.request(
            integration,
            "POST",
            "/points",
            json={"order_id": order.order_id, "points": order.total_minor // 100},
            idempotency_key=incoming.event.id,
        )

    return award
'''


@pytest.fixture
def toy_package(tmp_path: Path) -> Iterator[Path]:
    """A directory outside the project holding the toy module, importable while the test runs."""
    package = tmp_path / "toys"
    package.mkdir()
    (package / "toy_loyalty.py").write_text(TOY_MODULE, encoding="utf-8")
    sys.path.insert(0, str(package))
    try:
        yield package
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("toy_loyalty", None)


def loyalty_table(base_url: str) -> dict[str, object]:
    return {
        "integrations": {
            "loyalty": {
                "base_url": base_url,
                "allow_private_network": True,
                "step": "toy_loyalty:award_points",
                "capability": "loyalty points for every paid order",
                "dependency": "the loyalty API",
                "on_failure": "points wait on the retry ladder; nothing else waits for them",
                "criticality": "low",
            }
        }
    }


async def test_a_toy_integration_is_listed_and_runs_from_one_table(
    settings: Settings, toy_package: Path
) -> None:
    async with serving(Receiver()) as loyalty:
        # Given the toy module and one table naming it
        write_integrations(settings.config, loyalty_table(loyalty.base))
        integrations = load_integrations(settings.config)
        # When an operator lists the catalogue
        env = {**environment(settings), "PYTHONPATH": os.pathsep.join([str(toy_package), "."])}
        listed = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli.main",
            "integrations",
            "--health-url",
            "http://127.0.0.1:9",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await listed.communicate()
        # Then the loyalty integration is there with its four answers
        assert listed.returncode == 0, err.decode()
        row = next(line for line in out.decode().splitlines() if line.startswith("loyalty"))
        assert "loyalty points for every paid order" in row
        assert "low" in row
        # And when order-followup runs, the step has its own queue and calls the loyalty API
        topology = build_topology(settings, integrations)
        assert topology.queue("order-followup.loyalty").bindings == ("order.created.v1",)
        url = settings.broker_url.get_secret_value()
        async with (
            running(ORDER_FOLLOWUP, settings, topology, integrations),
            connected(url) as connection,
        ):
            order = await (await emitter_for(connection)).publish(sample_order("ord_toy"))
            await eventually(lambda: len(loyalty.hits) == 1, timeout=20)
            assert await queue_depth(connection, "order-followup.loyalty.parked") == 0
    [hit] = loyalty.hits
    assert (hit.path, hit.body["order_id"]) == ("/points", "ord_toy")
    assert hit.idempotency_key == order.id


async def test_a_step_that_cannot_be_loaded_stops_the_service_with_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    table = loyalty_table("https://loyalty.example.com")
    table["integrations"]["loyalty"]["step"] = "no_such_module:award_points"  # type: ignore[index]
    write_integrations(settings.config, table)
    started = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "run",
        "order-followup",
        "--port",
        "0",
        env=environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(started.communicate(), 60)
    assert started.returncode == 2
    assert "integrations.loyalty.step = 'no_such_module:award_points' cannot be loaded" in (
        err.decode()
    )
    assert "Traceback" not in err.decode()
