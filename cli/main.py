"""The `eventyard` command: run services, manage topology, contracts and parked messages."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli import contracts_cmd, destinations_cmd, parked_cmd, topology_cmd
from cli.attempts_cmd import attempts
from cli.common import EXIT_FAILED
from cli.demo_cmd import demo
from cli.docs_cmd import docs
from cli.integrations_cmd import integrations
from cli.publish_cmd import publish
from cli.run_cmd import run_command
from cli.status_cmd import status

app = typer.Typer(
    help="eventyard: webhooks and events over RabbitMQ, retried and parked, never lost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(run_command)
app.command("publish")(publish)
app.command("integrations")(integrations)
app.command("docs")(docs)
app.command("status")(status)
app.command("attempts")(attempts)
app.command("demo")(demo)
app.add_typer(topology_cmd.app, name="topology")
app.add_typer(contracts_cmd.app, name="contracts")
app.add_typer(parked_cmd.app, name="parked")
app.add_typer(destinations_cmd.app, name="destinations")


ROOMS = ("cli", "shared", "services", "contracts")


def installation_problem() -> str | None:
    """Why the four packages eventyard is made of do not come from one place, or None.

    They are installed under generic names (docs/architecture.md says why): where another
    distribution or the current directory provides one of them, eventyard would run some of
    its own code and some of someone else's.
    """
    homes = {
        room: Path(file).resolve().parent.parent
        for room in ROOMS
        if (file := getattr(sys.modules.get(room), "__file__", None)) is not None
    }
    ours = homes.get("cli")
    strangers = sorted(room for room, home in homes.items() if home != ours)
    if not strangers:
        return None
    where = ", ".join(f"{room} from {homes[room]}" for room in strangers)
    return (
        f"{where} shadow eventyard's own (from {ours}); run eventyard from a virtual "
        "environment of its own, or from a directory without such packages"
    )


def main() -> None:
    """Console-script entry point."""
    problem = installation_problem()
    if problem is not None:
        typer.echo(f"eventyard: {problem}", err=True)
        raise SystemExit(EXIT_FAILED)
    app()


if __name__ == "__main__":
    main()
