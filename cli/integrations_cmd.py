"""`eventyard integrations`: the catalogue of every connection, with its live health."""

from __future__ import annotations

from typing import Any

import typer

from cli.common import load, run, table
from cli.local import local_gateway
from shared.config import Catalogue, IntegrationConfig
from shared.errors import EventyardError

WATCHED = ("integration", "read")  # kinds the health service reports on
HealthOption = typer.Option(
    "http://127.0.0.1:8004", "--health-url", help="Where the health service answers."
)


def integrations(health_url: str = HealthOption) -> None:
    """What each connection provides, needs, does when it fails, how critical it is; its health."""
    _, config, _ = load()
    components = run(fetch_health(health_url))
    rows = []
    for kind, name, answers in config.catalogue():
        live = components.get(f"{kind}:{name}") if kind in WATCHED else None
        health = f"{live['status']} ({live['reason']})" if live else _not_probed(kind, components)
        rows.append(
            [
                name,
                _role(kind, answers),
                answers.criticality or "-",
                answers.capability or "-",
                answers.dependency or "-",
                answers.on_failure or "-",
                health,
            ]
        )
    if not rows:
        typer.echo("no integrations are declared (see eventyard.example.toml)")
        return
    header = ["name", "kind", "criticality", "capability", "dependency", "on failure", "health"]
    typer.echo(table(rows, header))


def _role(kind: str, answers: Catalogue) -> str:
    """The kind, with the provider's adapter for a payments or analytics integration."""
    if isinstance(answers, IntegrationConfig):
        if answers.payments:
            return f"payments ({answers.payments})"
        if answers.analytics:
            return f"analytics ({answers.analytics})"
    return kind


def _not_probed(kind: str, components: dict[str, Any]) -> str:
    if not components:
        return "unknown (health service not answering)"
    if kind == "read":
        return "not watched yet"
    return "not probed (no health_url)" if kind == "integration" else "-"


async def fetch_health(base_url: str) -> dict[str, Any]:
    """The health service's components, or {} when it does not answer."""
    gateway = local_gateway({"health": base_url})
    try:
        response = await gateway.request("health", "GET", "/health")
        components: dict[str, Any] = response.json()["components"]
    except (EventyardError, ValueError, KeyError, TypeError):
        return {}
    else:
        return components
    finally:
        await gateway.aclose()
