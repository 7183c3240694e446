"""`eventyard destinations [enable|disable NAME]`."""

from __future__ import annotations

import typer
from aio_pika.abc import AbstractConnection

from cli.common import EXIT_BAD_INPUT, fail, load, open_connection, run, table
from cli.local import local_gateway
from services.publisher.fanout import destination_queue
from services.publisher.switches import disable, enable, state
from shared.config import IntegrationsFile
from shared.errors import EventyardError
from shared.parking import depth

app = typer.Typer(help="List destinations, or enable / disable one.", invoke_without_command=True)

PublisherOption = typer.Option(
    "http://127.0.0.1:8001", "--publisher-url", help="Where to ask for live breaker states."
)


@app.callback()
def listing(ctx: typer.Context, publisher_url: str = PublisherOption) -> None:
    """Every destination with its state, queue depth, parked count and breaker state."""
    if ctx.invoked_subcommand is not None:
        return
    settings, integrations, _ = load()

    async def go() -> str:
        breakers = await _breakers(publisher_url)
        connection = await open_connection(settings, "eventyard-cli-destinations")
        async with connection:
            return await _table(connection, integrations, breakers)

    typer.echo(run(go()))


@app.command("enable")
def enable_command(name: str) -> None:
    """Deliver to NAME again (after a 410 or an operator's disable)."""
    settings, integrations, _ = load()
    _known(integrations, name)

    async def go() -> bool:
        connection = await open_connection(settings, "eventyard-cli-destinations")
        async with connection:
            return await enable(connection, name)

    was_disabled = run(go())
    typer.echo(
        f"{name} enabled; replay what it parked meanwhile with "
        f"`eventyard parked replay {destination_queue(name)}`"
        if was_disabled
        else f"{name} was not disabled"
    )


@app.command("disable")
def disable_command(name: str, reason: str = typer.Option("disabled by an operator")) -> None:
    """Stop delivering to NAME: its deliveries are parked until it is enabled."""
    settings, integrations, _ = load()
    _known(integrations, name)

    async def go() -> None:
        connection = await open_connection(settings, "eventyard-cli-destinations")
        async with connection:
            await disable(connection, name, reason)

    run(go())
    typer.echo(f"{name} disabled")


def _known(integrations: IntegrationsFile, name: str) -> None:
    if name not in integrations.destinations:
        known = ", ".join(integrations.destinations) or "none configured"
        fail(f"no destination named {name!r} ({known})", EXIT_BAD_INPUT)


async def _table(
    connection: AbstractConnection, integrations: IntegrationsFile, breakers: dict[str, str]
) -> str:
    rows = []
    for name, config in integrations.destinations.items():
        disabled = await state(connection, name)
        queue = destination_queue(name)
        ready, parked = await depth(connection, queue), await depth(connection, queue + ".parked")
        rows.append(
            [
                name,
                config.policy,
                f"disabled ({disabled.reason})" if disabled else "enabled",
                ready[0] if ready else "missing",
                parked[0] if parked else "missing",
                breakers.get(name, "unknown"),
            ]
        )
    return table(rows, ["destination", "policy", "state", "queued", "parked", "breaker"])


async def _breakers(publisher_url: str) -> dict[str, str]:
    """Breaker states from the running publisher; empty when it does not answer."""
    gateway = local_gateway({"publisher": publisher_url}, timeout=2)
    try:
        response = await gateway.request("publisher", "GET", "/destinations")
        return {row["name"]: row["breaker"] for row in response.json()["destinations"]}
    except (EventyardError, ValueError, KeyError, TypeError):
        return {}
    finally:
        await gateway.aclose()
