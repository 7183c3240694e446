"""`eventyard contracts [list|export|check]`."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import EXIT_FAILED, fail, table
from contracts.export import SCHEMA_DIR, check, export
from contracts.registry import CONTRACTS

app = typer.Typer(
    help="List the contracts and who may produce each; export and check their JSON Schemas.",
    invoke_without_command=True,
)

DirOption = typer.Option(SCHEMA_DIR, "--dir", help="Where the schema files live.")


@app.callback()
def contracts(context: typer.Context) -> None:
    """Without a subcommand: the list."""
    if context.invoked_subcommand is None:
        list_command()


@app.command("list")
def list_command() -> None:
    """Every contract, who may produce it (the doors and services it is accepted from), and why."""
    rows = [[c.key(), str(c.PRODUCERS), c.PRODUCERS.why] for c in CONTRACTS]
    typer.echo(table(rows, ["contract", "producers", "why"]))


@app.command("export")
def export_command(directory: Path = DirOption) -> None:
    """Write contracts/schemas/<type>.v<N>.json for every contract."""
    for path in export(directory):
        typer.echo(f"wrote {path}")


@app.command("check")
def check_command(directory: Path = DirOption) -> None:
    """Exit 1 when a committed schema differs from its model."""
    drifts = check(directory)
    for drift in drifts:
        typer.echo(f"{drift.file}: {drift.problem}", err=True)
    if drifts:
        fail(f"{len(drifts)} schema file(s) out of date", EXIT_FAILED)
    typer.echo("all schemas match their models")
