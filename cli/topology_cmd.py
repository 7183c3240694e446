"""`eventyard topology apply|show`."""

from __future__ import annotations

import typer
from aio_pika.abc import AbstractConnection

from cli.common import load, open_connection, run, table
from shared.parking import QueueCounter
from shared.topology import Topology, WorkQueue, declare

app = typer.Typer(help="Declare and inspect exchanges and queues.", no_args_is_help=True)


@app.command()
def apply() -> None:
    """Declare every exchange, queue and binding (idempotent; safe while services run)."""
    settings, _, topology = load()

    async def go() -> None:
        connection = await open_connection(settings, "eventyard-cli-topology")
        async with connection:
            channel = await connection.channel()
            await declare(channel, topology)

    run(go())
    typer.echo(
        f"declared exchange events, {len(topology.ladder)} retry steps, "
        f"{len(topology.queues)} work queues with their parked queues"
    )


@app.command()
def show() -> None:
    """Print every queue of the topology with its depth and consumer count."""
    settings, _, topology = load()

    async def go() -> str:
        connection = await open_connection(settings, "eventyard-cli-topology")
        async with connection:
            return await topology_table(connection, topology)

    typer.echo(run(go()))
    typer.echo(
        "Only the queues this integrations file names are listed: a queue left from an older "
        "ladder or a removed destination is not; `rabbitmqctl list_queues` shows every queue."
    )


async def topology_table(connection: AbstractConnection, topology: Topology) -> str:
    """The topology as a table: queue, kind, bindings, messages, consumers."""
    counter = QueueCounter(connection)
    rows: list[list[object]] = []
    names = [
        (name, kind, bindings)
        for queue in topology.queues
        for name, kind, bindings in (
            (queue.name, "work", ", ".join(_bindings(queue)) or "-"),
            (queue.parked, "parked", "-"),
        )
    ]
    names += [(name, "retry", "-") for name in dict.fromkeys(topology.ladder)]
    for name, kind, bindings in names:
        found = await counter.count(name)
        rows.append([name, kind, bindings, *(found if found is not None else ("missing", "-"))])
    await counter.close()
    return table(rows, ["queue", "kind", "bindings", "messages", "consumers"])


def _bindings(queue: WorkQueue) -> list[str]:
    door = [f"exchange {queue.door}"] if queue.door is not None else []
    return [*queue.bindings, *door]
