"""`eventyard status`: a live view of every queue and integration; `--once` for one snapshot."""

from __future__ import annotations

import asyncio
import contextlib

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from cli.common import load, open_connection, run
from cli.snapshot import Collector, Snapshot, rate

SAMPLE_GAP_SECONDS = 1.0


def status(
    once: bool = typer.Option(False, "--once", help="Print one snapshot and exit."),
    interval: float = typer.Option(2.0, help="Seconds between refreshes."),
    host: str = typer.Option("127.0.0.1", help="Where the services' HTTP sides answer."),
    base_port: int = typer.Option(8000, help="intake's port; the others follow (8001 …)."),
) -> None:
    """Per queue: depth, consumers, rates, parked, oldest age; per integration: health, breaker."""
    settings, integrations, topology = load()

    async def go() -> None:
        connection = await open_connection(settings, "eventyard-cli-status")
        async with connection:
            collector = Collector(
                connection, topology, integrations, host=host, base_port=base_port
            )
            try:
                before = await collector.take()
                if once:
                    await asyncio.sleep(SAMPLE_GAP_SECONDS)  # two readings make a rate
                    Console(width=160).print(render(await collector.take(), before))
                    return
                with Live(render(before, None), refresh_per_second=4) as live:
                    while True:
                        await asyncio.sleep(interval)
                        now = await collector.take()
                        live.update(render(now, before))
                        before = now
            finally:
                await collector.close()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the live view
        run(go())


def render(now: Snapshot, before: Snapshot | None) -> Group:
    """The two tables of one snapshot (rates against the previous one)."""
    seconds = now.taken_at - before.taken_at if before else 0.0
    previous = {q.name: q for q in before.queues} if before else {}
    queues = Table(title="queues", title_justify="left")
    for column in ("queue", "depth", "consumers", "in/s", "out/s", "parked", "oldest"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for q in now.queues:
        old = previous.get(q.name)
        out_rate = rate(q.handled_total, old.handled_total if old else None, seconds)
        # What came in is what went out plus what the queue grew by.
        depth_change = (
            (q.depth - old.depth) / seconds
            if old and q.depth is not None and old.depth is not None and seconds
            else None
        )
        in_rate = (
            max(0.0, out_rate + depth_change)
            if out_rate is not None and depth_change is not None
            else None
        )
        queues.add_row(
            q.name,
            _int(q.depth, "missing"),
            _int(q.consumers),
            _rate(in_rate),
            _rate(out_rate),
            _int(q.parked),
            _age(q.backlog_age, q.parked_age),
        )
    integrations = Table(title="integrations", title_justify="left")
    for column in ("name", "kind", "criticality", "health", "breaker"):
        integrations.add_column(column)
    for i in now.integrations:
        integrations.add_row(i.name, i.kind, i.criticality, i.health, i.breaker)
    down = [name for name, up in now.services.items() if not up]
    note = f"not answering: {', '.join(down)}" if down else "all services answering"
    return Group(queues, integrations, note)


def _int(value: int | None, missing: str = "-") -> str:
    return missing if value is None else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _age(backlog: float | None, parked: float | None) -> str:
    parts = []
    if backlog:
        parts.append(f">={backlog:.0f}s waiting")
    if parked:
        parts.append(f"{parked:.0f}s parked")
    return ", ".join(parts) or "-"
