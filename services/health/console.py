"""The operator's console on the health service: `/console` (every destination and integration
at a glance), `/console/live` (rates per service over the last minutes), `/console/failures`
(parked messages grouped by cause), `/console/messages` (one message's attempts), and, with a
console token set, replay or purge a failure group (console_actions.py). Server-rendered,
escaped; secrets never reach it (the attempts log's excerpts are redacted when written)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiormq
import jinja2
from aio_pika.abc import AbstractConnection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from services.health.attempts import LogStore
from services.health.console_actions import GroupActions
from services.health.live import SERIES, LiveRates, sparkline
from services.health.report import HealthReport
from services.publisher.fanout import destination_queue
from shared.attempts.model import LogUnavailableError
from shared.config import IntegrationsFile
from shared.parked_groups import Group, scan
from shared.settings import Settings
from shared.topology import Topology

SCAN_LIMIT = 1000  # parked messages read per queue for one page
MAX_EVENT_ID_CHARS = 100
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.health", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
Connect = Callable[[], Awaitable[AbstractConnection]]


@dataclass(frozen=True)
class Row:
    """One destination or integration on the overview."""

    name: str
    kind: str
    status: str
    reason: str
    queue: str | None
    depth: int | None
    parked: int | None
    oldest: str | None
    last_success: str | None
    breaker: str | None = None


def console_routes(
    report: HealthReport,
    topology: Topology,
    integrations: IntegrationsFile,
    *,
    log: LogStore,
    live: LiveRates,
    connect: Connect,
    settings: Settings,
    acted: Callable[[], None] = lambda: None,
) -> list[Route]:
    """The console's pages, reading what the health service already knows; its actions when
    a console token is set (`acted` is called after one may have moved messages)."""
    actions = GroupActions(
        settings.console, topology, connect, _page, settings.publish_timeout_seconds, acted=acted
    )
    acting = settings.console.token is not None

    async def overview(_: Request) -> Response:
        successes = await _last_successes(log)
        rows = overview_rows(report, topology, integrations, successes, live.breakers())
        state = report.as_json()
        return _page(
            "console_overview.html",
            "overview",
            rows=rows,
            overall=state["status"],
            checked_at=state["checked_at"],
        )

    async def failures(_: Request) -> Response:
        groups: list[Group] = []
        try:
            connection = await connect()
        except (OSError, aiormq.exceptions.AMQPError, TimeoutError):
            return _page("console_failures.html", "failures: the broker cannot be reached now",
                         groups=[], limit=SCAN_LIMIT, acting=acting, status_code=503)  # fmt: skip
        try:
            for queue in topology.queues:
                # A parked queue not declared yet holds nothing.
                with contextlib.suppress(aiormq.exceptions.ChannelNotFoundEntity):
                    found = await scan(connection, queue.parked, limit=SCAN_LIMIT)
                    groups += found.groups.values()
        finally:
            await connection.close()
        groups.sort(key=lambda g: (-g.count, g.cause.queue, g.cause.id))
        return _page("console_failures.html", "failures", groups=groups, limit=SCAN_LIMIT,
                     acting=acting)  # fmt: skip

    async def messages(request: Request) -> Response:
        event_id = request.query_params.get("event_id", "").strip()[:MAX_EVENT_ID_CHARS]
        story: list[Any] = []
        if event_id:
            try:
                story = await log.story(event_id)
            except LogUnavailableError:
                return _page(
                    "console_message.html",
                    "a message's story: the attempts log cannot be read now",
                    event_id=event_id,
                    attempts=[],
                    status_code=503,
                )
        return _page("console_message.html", "a message's story", event_id=event_id,
                     attempts=story)  # fmt: skip

    async def rates(_: Request) -> Response:
        found = live.rates()
        return _page("console_live.html", "live", rates=found, series=list(SERIES),
                     every=live.every, spark=sparkline)  # fmt: skip

    return [
        Route("/console", overview, methods=["GET"]),
        Route("/console/live", rates, methods=["GET"]),
        Route("/console/failures", failures, methods=["GET"]),
        Route("/console/messages", messages, methods=["GET"]),
        *actions.routes(),
    ]


def overview_rows(
    report: HealthReport,
    topology: Topology,
    integrations: IntegrationsFile,
    successes: dict[str, datetime],
    breakers: Mapping[str, str] | None = None,
) -> list[Row]:
    """A row per destination and integration: its health, its breaker, its queue's state, its
    last success."""
    breakers = breakers or {}
    queues = {q.name for q in topology.queues}
    named: list[tuple[str, str, str | None]] = [
        ("destination", n, destination_queue(n)) for n in integrations.destinations
    ]
    named += [
        ("integration", n, step if (step := f"order-followup.{n}") in queues else None)
        for n in integrations.integrations
    ]
    rows = []
    for kind, name, queue in named:
        probed = report.components.get(f"integration:{name}")
        watched = report.components.get(f"queue:{queue}") if queue else None
        shown = probed or watched
        details = watched.details if watched else {}
        last = successes.get(name)
        rows.append(
            Row(
                name=name,
                kind=kind,
                status=shown.status if shown else "unknown",
                reason=shown.reason if shown else "not checked yet",
                queue=queue,
                depth=details.get("depth"),
                parked=details.get("parked"),
                oldest=_age(details.get("parked_oldest_age_seconds")),
                last_success=last.isoformat(timespec="seconds") if last else None,
                breaker=breakers.get(name),
            )
        )
    return rows


async def _last_successes(log: LogStore) -> dict[str, datetime]:
    try:
        return await log.last_successes()
    except LogUnavailableError:
        return {}  # the overview still shows health and queues without the log


def _age(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float) or seconds <= 0:
        return None
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _page(template: str, title: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = _TEMPLATES.get_template(template).render(title=title, **values)
    return HTMLResponse(html, status_code=status_code)
