"""`eventyard contracts export|check`."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import EXIT_FAILED, fail
from contracts.export import SCHEMA_DIR, check, export

app = typer.Typer(help="Export and check the contracts' JSON Schemas.", no_args_is_help=True)

DirOption = typer.Option(SCHEMA_DIR, "--dir", help="Where the schema files live.")


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
