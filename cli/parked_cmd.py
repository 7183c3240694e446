"""`eventyard parked list|show|replay|purge`."""

from __future__ import annotations

import typer
from aio_pika.abc import AbstractConnection
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.common import EXIT_BAD_INPUT, fail, load, open_connection, run, table
from shared.broker import publish_channel
from shared.parking import (
    ReplayResult,
    depth,
    own_parked_queue,
    peek,
    purge,
    replay,
    summarize,
)
from shared.publishing import Confirmer
from shared.settings import Settings
from shared.topology import Topology

app = typer.Typer(help="Inspect, replay and purge parked messages.", no_args_is_help=True)

BODY_PREVIEW = 300


@app.command("list")
def list_command(
    sample: int = typer.Option(200, help="How many messages per queue to read for top errors."),
) -> None:
    """Per parked queue: count, oldest failure, top error types."""
    settings, _, topology = load()

    async def go() -> str:
        connection = await open_connection(settings, "eventyard-cli-parked")
        async with connection:
            rows = []
            for queue in topology.queues:
                s = await summarize(connection, queue.parked, sample)
                errors = ", ".join(f"{name} ({n})" for name, n in s.top_errors) or "-"
                rows.append([s.queue, s.count, s.oldest or "-", errors])
            return table(rows, ["parked queue", "count", "oldest failure", "top errors"])

    typer.echo(run(go()))


@app.command()
def show(
    queue: str = typer.Argument(..., help="A work queue or its parked queue."),
    limit: int = typer.Option(20, help="How many messages to show."),
) -> None:
    """Parked messages with their failure headers; bodies truncated."""
    settings, _, topology = load()
    parked = _own(topology, queue)

    async def go() -> None:
        connection = await open_connection(settings, "eventyard-cli-parked")
        async with connection:
            await _require(connection, parked)
            messages = await peek(connection, parked, limit)
        if not messages:
            typer.echo(f"{parked} is empty")
        for m in messages:
            body = m.body[:BODY_PREVIEW].decode("utf-8", "replace")
            more = "…" if len(m.body) > BODY_PREVIEW else ""
            typer.echo(
                f"id {m.message_id}  type {m.event_type}  queue {m.queue}\n"
                f"  routing key {m.routing_key}  parked by eventyard {m.version}\n"
                f"  reason {m.reason}  error {m.error_type}: {m.error}\n"
                f"  attempts {m.attempts}  first failure {m.first_failure}  "
                f"last failure {m.last_failure}  service {m.service}\n"
                f"  body {body}{more}\n"
            )

    run(go())


@app.command("replay")
def replay_command(
    queue: str = typer.Argument(..., help="A work queue or its parked queue."),
    limit: int | None = typer.Option(None, help="Replay at most this many."),
    event_type: str | None = typer.Option(None, "--type", help="Only this type (or TYPE.vN)."),
    error: str | None = typer.Option(None, help="Only messages whose error contains this."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would move; move nothing."),
) -> None:
    """Move parked messages back to their work queue with a fresh attempt count."""
    settings, _, topology = load()
    parked = _own(topology, queue)
    result = run(
        _replay(settings, parked, limit=limit, event_type=event_type, error=error, dry_run=dry_run)
    )
    verb = "would replay" if dry_run else "replayed"
    count = result.matched if dry_run else result.replayed
    typer.echo(f"{verb} {count} of {result.scanned} scanned from {parked}")


async def _replay(
    settings: Settings,
    parked: str,
    *,
    limit: int | None,
    event_type: str | None,
    error: str | None,
    dry_run: bool,
) -> ReplayResult:
    connection = await open_connection(settings, "eventyard-cli-replay")
    async with connection:
        total = await _require(connection, parked)
        confirmer = Confirmer(
            await publish_channel(connection), timeout=settings.publish_timeout_seconds
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(f"replaying {parked}", total=min(total, limit or total))

            def show_progress(r: ReplayResult) -> None:
                bar.update(task, completed=r.matched if dry_run else r.replayed)

            return await replay(
                connection,
                confirmer,
                parked,
                limit=limit,
                event_type=event_type,
                error=error,
                dry_run=dry_run,
                progress=show_progress,
            )


@app.command("purge")
def purge_command(
    queue: str = typer.Argument(..., help="A work queue or its parked queue."),
    yes: bool = typer.Option(False, "--yes", help="Really delete the parked messages."),
) -> None:
    """Delete every message of a parked queue (asks for --yes)."""
    settings, _, topology = load()
    parked = _own(topology, queue)
    if not yes:
        fail(f"purging deletes every message in {parked}; add --yes to do it", EXIT_BAD_INPUT)

    async def go() -> int:
        connection = await open_connection(settings, "eventyard-cli-parked")
        async with connection:
            await _require(connection, parked)
            return await purge(connection, parked)

    typer.echo(f"purged {run(go())} messages from {parked}")


def _own(topology: Topology, queue: str) -> str:
    try:
        return own_parked_queue(topology, queue)
    except KeyError:
        known = ", ".join(q.parked for q in topology.queues)
        fail(f"{queue} is not one of the yard's parked queues; they are: {known}", EXIT_BAD_INPUT)


async def _require(connection: AbstractConnection, parked: str) -> int:
    found = await depth(connection, parked)
    if found is None:
        fail(f"no queue named {parked}", EXIT_BAD_INPUT)
    return found[0]
