"""`eventyard topology apply|show`."""

from __future__ import annotations

import typer
from aio_pika.abc import AbstractConnection

from cli.common import load, open_connection, run, table
from shared.parking import depth
from shared.topology import Topology, declare

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
            return await describe(connection, topology)

    typer.echo(run(go()))


async def describe(connection: AbstractConnection, topology: Topology) -> str:
    """The topology as a table: queue, kind, bindings, messages, consumers."""
    rows: list[list[object]] = []
    for queue in topology.queues:
        for name, kind, bindings in (
            (queue.name, "work", ", ".join(queue.bindings) or "-"),
            (queue.parked, "parked", "-"),
        ):
            rows.append([name, kind, bindings, *await _counts(connection, name)])
    for name in topology.ladder:
        rows.append([name, "retry", "-", *await _counts(connection, name)])
    return table(rows, ["queue", "kind", "bindings", "messages", "consumers"])


async def _counts(connection: AbstractConnection, name: str) -> tuple[object, object]:
    found = await depth(connection, name)
    return found if found is not None else ("missing", "-")
