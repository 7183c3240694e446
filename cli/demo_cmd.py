"""`eventyard demo`: a signed order through the running yard, narrated as it happens."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from cli.common import EXIT_FAILED, fail, load, run
from shared.errors import EventyardError

RecordOption = typer.Option(None, help="Write what the stand-ins saw (JSON) here.")


def demo(
    base_port: int = typer.Option(8000, help="intake's port; the other services follow."),
    start: bool = typer.Option(True, help="Start the services if none answer."),
    record: Path | None = RecordOption,
) -> None:
    """Send signed orders through every service, take the CRM down, and show what happens."""
    from cli.demo.run import DEMO_CONFIG, Demo, demo_environment  # noqa: PLC0415 - see load()

    os.environ.update(demo_environment())  # the demo's secrets and ladder, unless already set
    os.environ["EVENTYARD_CONFIG"] = str(DEMO_CONFIG)
    settings, integrations, topology = load()
    runner = Demo(
        settings,
        integrations,
        topology,
        base_port=base_port,
        start=start,
        out=sys.stdout,
        record=record,
    )
    try:
        code = run(runner.run())
    except (EventyardError, OSError) as error:
        fail(str(error), EXIT_FAILED)
    raise typer.Exit(code)
