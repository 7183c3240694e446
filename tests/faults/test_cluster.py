"""A 3-node cluster with quorum queues: a leader node crashes, then a majority is lost.

One cluster of throwaway nodes serves both cases (booted early in the session, see conftest);
each case has a vhost of its own. `EVENTYARD_BROKER_URL` takes one URL, so the services reach
the cluster through the project's FaultProxy, whose upstream is switched to a surviving node
when one dies.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.faults.report import Report
from tests.faults.world import OrderWorld, fault_settings, order_world, verify_delivery
from tests.support.events import connected
from tests.support.proxy import FaultProxy
from tests.support.rabbit import BackgroundCluster, Cluster, RabbitNode, node_vhost
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.faults,
    pytest.mark.cluster,
    pytest.mark.asyncio(loop_scope="module"),
    # Nodes die and come back, and delivery may take up to the world's settle bound after it.
    pytest.mark.timeout(300),
]

STREAM = 150
RATE = 20.0


@dataclass
class ClusterWorld:
    """The order flow on the cluster, through a proxy pointed at one node."""

    cluster: Cluster
    proxy: FaultProxy
    vhost: str
    order: OrderWorld

    @property
    def upstream(self) -> RabbitNode:
        """The node the proxy forwards to."""
        return next(n for n in self.cluster.nodes if n.port == self.proxy.upstream[1])

    async def queues(self) -> dict[str, tuple[str, str, int]]:
        """Queue name -> (type, leader node, member count), as the broker reports them."""
        node = self.cluster.running[0]
        listing = await node.ctl(
            "list_queues", "-p", self.vhost, "name", "type", "leader", "members"
        )
        found: dict[str, tuple[str, str, int]] = {}
        for line in listing.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[0] != "name":
                members = parts[3].strip("[]").split(",")
                found[parts[0]] = (parts[1], parts[2], len([m for m in members if m.strip()]))
        return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(cluster_boot: BackgroundCluster) -> Cluster:
    """The session's three clustered throwaway nodes (booted in the background, see conftest)."""
    return await cluster_boot.ready()


@pytest_asyncio.fixture(loop_scope="module")
async def world(cluster: Cluster, tmp_path: Path) -> AsyncIterator[ClusterWorld]:
    """All three nodes up; the order flow on a fresh vhost, through a proxy to the first node."""
    await cluster.start_all()  # the previous case left nodes down if it failed mid-fault
    first = cluster.nodes[0]
    proxy = await FaultProxy(*first.host).start()
    try:
        async with node_vhost(cluster.nodes) as vhost:
            url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"
            settings = fault_settings(url, tmp_path, publish_timeout_seconds=2.0)
            try:
                async with order_world(settings, tmp_path) as order:
                    yield ClusterWorld(cluster, proxy, vhost, order)
            finally:
                # Deleting a vhost whose quorum queues miss a member waits on it: restart first.
                await cluster.start_all()
    finally:
        await proxy.stop()


async def test_leader_node_sigkill_loses_nothing(world: ClusterWorld, report: Report) -> None:
    """The node holding the quorum queue leaders dies mid-stream: 0 lost; the stall is reported.

    The services get the surviving node through the proxy (the product takes one broker URL).
    """
    # Given every queue is a quorum queue replicated on all three nodes
    queues = await world.queues()
    work = {name: q for name, q in queues.items() if not name.startswith("retry.")}
    assert work, queues
    assert all(kind == "quorum" and members == 3 for kind, _, members in queues.values()), queues
    # And the leaders sit on the node the services declared them through
    leaders = Counter(leader for _, leader, _ in work.values())
    victim = world.cluster.node(leaders.most_common(1)[0][0])
    assert victim is world.upstream
    survivor = next(n for n in world.cluster.nodes if n is not victim)

    # When a stream of webhooks flows and the leaders' node is SIGKILLed in the middle of it
    sender = world.order.sender
    stream = asyncio.create_task(sender.stream("leader", STREAM, RATE))
    await eventually(lambda: len(sender.accepted) >= STREAM // 3, timeout=30, every=0.05)
    await victim.kill()
    world.proxy.switch(*survivor.host)
    await asyncio.wait_for(stream, 120)

    # Then the queues elected new leaders among the survivors
    moved = Counter(leader for _, leader, _ in (await world.queues()).values())
    assert victim.name not in moved
    # And every accepted webhook is delivered to each of its destinations
    assert sender.refused == {}
    assert len(sender.accepted) == STREAM
    async with connected(survivor.url(world.vhost)) as connection:
        note = f"leaders moved off the killed node to {sorted(n.split('@')[0] for n in moved)}"
        await verify_delivery(world.order, connection, report, note)


async def test_majority_down_answers_503_then_delivers_everything(
    world: ClusterWorld, report: Report
) -> None:
    """With 2 of 3 nodes down no publish is confirmed, so intake answers 503, never 202.

    After the two nodes return, the senders' retries are accepted and all of it is delivered.
    """
    sender = world.order.sender
    survivor = world.upstream
    others = [n for n in world.cluster.nodes if n is not survivor]
    async with httpx.AsyncClient(timeout=15) as client:
        # Given the flow works
        assert await sender.send(client, "before") == 202

        # When two of the three nodes are down
        await asyncio.gather(*(n.kill() for n in others))
        during = [await sender.send(client, f"minority-{n}", retry=False) for n in range(5)]

        # Then intake refuses to acknowledge what it cannot get confirmed
        assert during == [503] * 5, during
        assert not any(k.startswith("minority") for k in sender.accepted)

        # When the nodes are back, the senders retry the same webhooks, and more arrive
        await world.cluster.start_all()
        retried = await asyncio.gather(*(sender.send(client, f"minority-{n}") for n in range(5)))
    await sender.stream("after", 40, RATE)

    # Then everything accepted is delivered, each to all of its destinations
    assert retried == [202] * 5
    async with connected(survivor.url(world.vhost)) as connection:
        note = "5 of 5 sends answered 503 while 2 of 3 nodes were down"
        await verify_delivery(world.order, connection, report, note)
