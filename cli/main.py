"""The `eventyard` command: run services, manage topology, contracts and parked messages."""

from __future__ import annotations

import typer

from cli import contracts_cmd, destinations_cmd, parked_cmd, topology_cmd
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
app.command("demo")(demo)
app.add_typer(topology_cmd.app, name="topology")
app.add_typer(contracts_cmd.app, name="contracts")
app.add_typer(parked_cmd.app, name="parked")
app.add_typer(destinations_cmd.app, name="destinations")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
