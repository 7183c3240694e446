"""`eventyard parked list|groups|show|replay|purge`."""

from __future__ import annotations

from typing import Any

import orjson
import typer
from aio_pika.abc import AbstractConnection
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from cli.common import EXIT_BAD_INPUT, fail, load, open_connection, run, table
from shared.broker import publish_channel
from shared.parked_groups import Group, Scan, scan
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
PATTERN_SHOWN = 60


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
    queue: str | None = typer.Argument(None, help="A work queue or its parked queue."),
    *,
    limit: int | None = typer.Option(None, help="Replay at most this many."),
    event_type: str | None = typer.Option(None, "--type", help="Only this type (or TYPE.vN)."),
    error: str | None = typer.Option(None, help="Only messages whose error contains this."),
    group: str | None = typer.Option(None, help="Only this group (`eventyard parked groups`)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would move; move nothing."),
) -> None:
    """Move parked messages back to their work queue with a fresh attempt count."""
    settings, _, topology = load()
    parked = _target(settings, topology, queue, group)
    result = run(
        _replay(
            settings,
            parked,
            limit=limit,
            event_type=event_type,
            error=error,
            group=group,
            dry_run=dry_run,
        )
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
    group: str | None,
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
                group=group,
                dry_run=dry_run,
                progress=show_progress,
            )


@app.command("purge")
def purge_command(
    queue: str | None = typer.Argument(None, help="A work queue or its parked queue."),
    group: str | None = typer.Option(None, help="Only this group (`eventyard parked groups`)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    yes: bool = typer.Option(False, "--yes", help="Really delete the parked messages."),
) -> None:
    """Delete every message of a parked queue, or of one group (asks for --yes)."""
    settings, _, topology = load()
    parked = _target(settings, topology, queue, group)
    if group is not None:
        scans = _scan(settings, [parked], purge_group=group, dry_run=dry_run or not yes)
        scanned = run(scans)[parked]
        if dry_run or not yes:
            verb = "would purge" if dry_run else "purging would delete"
            hint = "" if dry_run else "; add --yes to do it"
            typer.echo(f"{verb} {scanned.matched} of {scanned.scanned} in group {group}{hint}")
            if not dry_run:
                raise typer.Exit(EXIT_BAD_INPUT)
            return
        typer.echo(f"purged {scanned.purged} of {scanned.scanned} scanned from {parked}")
        return
    if not yes:
        fail(f"purging deletes every message in {parked}; add --yes to do it", EXIT_BAD_INPUT)

    async def go() -> int:
        connection = await open_connection(settings, "eventyard-cli-parked")
        async with connection:
            await _require(connection, parked)
            if dry_run:
                return await _require(connection, parked)
            return await purge(connection, parked)

    typer.echo(f"{'would purge' if dry_run else 'purged'} {run(go())} messages from {parked}")


@app.command()
def groups(
    queue: str | None = typer.Argument(None, help="One work queue or parked queue (default all)."),
    limit: int = typer.Option(10_000, help="Read at most this many messages per parked queue."),
    as_json: bool = typer.Option(False, "--json", help="Print the groups as JSON."),
) -> None:
    """Parked messages grouped by cause: queue, reason, error class, status, folded first line."""
    settings, _, topology = load()
    queues = [_own(topology, queue)] if queue else [q.parked for q in topology.queues]
    found: list[Group] = []
    truncated = []
    scans = run(_scan(settings, queues, limit=limit, required=queue is not None))
    for parked, scanned in scans.items():
        found += scanned.groups.values()
        if scanned.scanned >= limit:
            truncated.append(parked)
    found.sort(key=lambda g: (-g.count, g.cause.queue, g.cause.id))
    if as_json:
        typer.echo(orjson.dumps([_as_json(g) for g in found], option=orjson.OPT_INDENT_2))
        return
    if not found:
        typer.echo("nothing is parked")
        return
    rows = [
        [
            g.cause.id,
            g.cause.queue,
            g.cause.reason,
            g.cause.error_type + (f" {g.cause.status}" if g.cause.status else ""),
            g.cause.pattern[:PATTERN_SHOWN],
            g.count,
            g.oldest or "-",
            g.newest or "-",
        ]
        for g in found
    ]
    header = ["group", "queue", "reason", "error", "first line", "count", "oldest", "newest"]
    typer.echo(table(rows, header))
    for parked in truncated:
        typer.echo(f"{parked}: only the first {limit} messages were read (--limit)", err=True)


async def _scan(
    settings: Settings,
    parked_queues: list[str],
    *,
    purge_group: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    required: bool = True,
) -> dict[str, Scan]:
    """One pass over each parked queue, on one connection, with a progress bar; an empty
    queue is not read at all."""
    scans: dict[str, Scan] = {}
    connection = await open_connection(settings, "eventyard-cli-parked")
    async with connection:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, transient=True) as bar:
            for parked in parked_queues:
                found = await depth(connection, parked)
                if found is None and required:
                    fail(f"no queue named {parked}", EXIT_BAD_INPUT)
                if found is None or found[0] == 0:
                    scans[parked] = Scan()
                    continue
                task = bar.add_task(f"reading {parked}", total=min(found[0], limit or found[0]))

                def show(done: Scan, task: TaskID = task) -> None:
                    bar.update(task, completed=done.scanned)

                scans[parked] = await scan(
                    connection,
                    parked,
                    purge_group=purge_group,
                    dry_run=dry_run,
                    limit=limit,
                    progress=show,
                )
    return scans


def _as_json(group: Group) -> dict[str, Any]:
    return {
        "group": group.cause.id,
        "queue": group.cause.queue,
        "reason": group.cause.reason,
        "error_type": group.cause.error_type,
        "status": group.cause.status,
        "pattern": group.cause.pattern,
        "count": group.count,
        "oldest": group.oldest,
        "newest": group.newest,
        "message_ids": group.message_ids,
    }


def _target(settings: Settings, topology: Topology, queue: str | None, group: str | None) -> str:
    """The parked queue a command acts on: the one named, or the one that holds `group`."""
    if queue is not None:
        return _own(topology, queue)
    if group is None:
        fail(
            "name a queue, or a group with --group (see `eventyard parked groups`)", EXIT_BAD_INPUT
        )
    scans = run(_scan(settings, [q.parked for q in topology.queues], required=False))
    holding = [parked for parked, scanned in scans.items() if group in scanned.groups]
    if not holding:
        fail(
            f"no parked message is in group {group} (see `eventyard parked groups`)", EXIT_BAD_INPUT
        )
    return holding[0]


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
