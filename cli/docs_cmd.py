"""`eventyard docs --out FILE`: the AsyncAPI document of every service."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from cli.common import load

OutOption = typer.Option(Path("asyncapi.json"), "--out", help="Where to write the document.")


def docs(out: Path = OutOption) -> None:
    """Write one AsyncAPI 3.0 document covering all services and contracts."""
    from services.asyncapi import document  # noqa: PLC0415 - see cli.common.load()

    _, _, topology = load()
    out.write_bytes(orjson.dumps(document(topology), option=orjson.OPT_INDENT_2) + b"\n")
    typer.echo(f"wrote {out}")
