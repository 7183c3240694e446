"""`eventyard attempts [EVENT_ID]`: the story of one message, or the attempts that match."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING

import orjson
import typer

from cli.common import EXIT_BAD_INPUT, fail, run, table
from contracts.envelope import utc_now
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.attempts.store import Attempt

_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
EXCERPT_SHOWN = 60


def attempts(
    event_id: str | None = typer.Argument(None, help="One event's id: its every attempt."),
    *,
    destination: str | None = typer.Option(
        None,
        "--destination",
        "--target",
        help="Only this target: a destination, a webhook source, a provider or a step's queue.",
    ),
    since: str | None = typer.Option(None, help="Only the last 30m, 1h, 2d …"),
    outcome: str | None = typer.Option(
        None,
        help="succeeded, failed, parked or dropped; a webhook's accepted, duplicate, refused, "
        "unavailable.",
    ),
    limit: int = typer.Option(100, min=1, max=10_000, help="The newest this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines, for scripts."),
) -> None:
    """Every attempt on record: webhooks in, steps, deliveries, sends (health writes the log)."""
    # Imported here: SQLAlchemy and the drivers are for this command alone.
    from shared.attempts.store import AttemptsStore  # noqa: PLC0415

    settings = Settings()
    window = _window(since) if since else None

    async def go() -> list[Attempt]:
        store = await AttemptsStore.open(settings.attempts.url.get_secret_value())
        try:
            if event_id is not None:
                rows = await store.story(event_id)
            else:
                start = utc_now() - window if window else None
                rows = await store.search(
                    target=destination, since=start, outcome=outcome, limit=limit
                )
        finally:
            await store.close()
        return rows

    rows = run(go())
    if as_json:
        for row in rows:
            typer.echo(orjson.dumps(asdict(row)).decode())
        return
    if not rows:
        typer.echo("no attempts on record" + (f" for {event_id}" if event_id else ""))
        return
    shown = [
        [
            r.at.isoformat(timespec="milliseconds"),
            r.event_id,
            r.kind,
            r.target,
            r.attempt,
            f"{r.outcome} ({r.rung})" if r.rung else r.outcome,
            r.status_code or "-",
            f"{r.duration_ms:.0f} ms" if r.duration_ms is not None else "-",
            " ".join(t for t in (r.error_class, (r.excerpt or "")[:EXCERPT_SHOWN]) if t),
        ]
        for r in rows
    ]
    header = ["at", "event", "kind", "target", "#", "outcome", "status", "took", "said"]
    typer.echo(table(shown, header))


def _window(since: str) -> timedelta:
    found = _SINCE.match(since)
    if found is None:
        fail(f"--since {since!r}: a number and s, m, h or d (30m, 1h, 2d)", EXIT_BAD_INPUT)
    return timedelta(**{_UNITS[found[2]]: int(found[1])})
