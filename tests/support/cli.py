"""Run the `eventyard` command as a user would, in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.settings import Settings


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a command needs to act on the test's vhost."""
    return {
        **os.environ,
        "EVENTYARD_BROKER_URL": settings.broker_url.get_secret_value(),
        "EVENTYARD_RETRY__DELAYS": str(settings.retry.delays),
        "EVENTYARD_RETRY__DELIVERY_LIMIT": str(settings.retry.delivery_limit),
        "EVENTYARD_CONFIG": str(settings.config),
        "EVENTYARD_ATTEMPTS__URL": settings.attempts.url.get_secret_value(),
        **extra,
    }


def eventyard(
    settings: Settings, *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `eventyard ARGS…` and capture what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=environment(settings),
        cwd=cwd,
        timeout=120,
        check=False,
    )
