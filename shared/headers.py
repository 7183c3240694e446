"""The AMQP headers eventyard reads and writes, and how to read the broker's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ATTEMPTS = "x-eventyard-attempts"
QUEUE = "x-eventyard-queue"
ROUTING_KEY = "x-eventyard-routing-key"
FIRST_FAILURE = "x-eventyard-first-failure"
LAST_FAILURE = "x-eventyard-last-failure"
ERROR_TYPE = "x-eventyard-error-type"
ERROR_MESSAGE = "x-eventyard-error"
REASON = "x-eventyard-reason"
SERVICE = "x-eventyard-service"
VERSION = "x-eventyard-version"
REPLAYED = "x-eventyard-replayed"
DEFERRALS = "x-eventyard-deferrals"

# Headers that describe a failure history; a replayed copy starts without them.
FAILURE_HEADERS = frozenset(
    {
        ATTEMPTS,
        FIRST_FAILURE,
        LAST_FAILURE,
        ERROR_TYPE,
        ERROR_MESSAGE,
        REASON,
        SERVICE,
        VERSION,
        DEFERRALS,
    }
)
BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-first-death-exchange",
        "x-delivery-count",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-last-death-exchange",
    }
)


def text(value: Any) -> str | None:
    """A header value as text (the client may hand over bytes)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def integer(value: Any, default: int = 0) -> int:
    """A header value as an int, or the default when absent or malformed."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def deaths(headers: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The broker's `x-death` entries, newest first."""
    value = headers.get("x-death")
    return (
        [entry for entry in value if isinstance(entry, Mapping)] if isinstance(value, list) else []
    )


def ladder_hops(headers: Mapping[str, Any], ladder_prefix: str) -> int:
    """How many times the broker itself expired this message out of a ladder queue."""
    return sum(
        integer(entry.get("count"), 1)
        for entry in deaths(headers)
        if text(entry.get("reason")) == "expired"
        and (text(entry.get("queue")) or "").startswith(ladder_prefix)
    )
