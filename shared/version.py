"""The installed eventyard version."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def eventyard_version() -> str:
    """The distribution's version, or `0+unknown` when run from a bare checkout."""
    try:
        return version("eventyard")
    except PackageNotFoundError:
        return "0+unknown"
