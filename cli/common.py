"""What every command shares: loading settings, clear failures, broker connections."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

import aiormq
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from shared import event_loop
from shared.broker import connect, redacted_url
from shared.config import IntegrationsFile, load_integrations
from shared.errors import ConfigError, PublishError, UnroutableError
from shared.settings import Settings
from shared.topology import Topology

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print a one-line reason on stderr and exit with `code`."""
    typer.echo(f"eventyard: {message}", err=True)
    raise typer.Exit(code)


def load() -> tuple[Settings, IntegrationsFile, Topology]:
    """Settings, the integrations file and the topology they describe."""
    try:
        settings = Settings()
    except ValueError as error:  # bad EVENTYARD_* values: pydantic's errors, or unparsable JSON
        fail(settings_problems(error), EXIT_BAD_INPUT)
    try:
        integrations = load_integrations(settings.config)
    except ConfigError as error:
        fail(str(error), EXIT_BAD_INPUT)
    except ValueError as error:  # e.g. a file that is not UTF-8
        fail(f"invalid settings: {error}".splitlines()[0], EXIT_BAD_INPUT)
    # Imported here: every service comes with it, and most commands need none of them (the
    # CLI then starts in a third of the time).
    from services.yard import build_topology  # noqa: PLC0415

    return settings, integrations, build_topology(settings, integrations)


def settings_problems(error: ValueError) -> str:
    """One line naming each bad `EVENTYARD_…` variable and why, never quoting its value."""
    if isinstance(error, ValidationError):
        problems = [
            f"invalid setting {env_name(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        return "; ".join(problems)
    if isinstance(error, SettingsError):  # e.g. a list or an object that is not JSON
        field = re.search(r'field "([^"]+)"', str(error))
        names = env_names(field.group(1)) if field else "EVENTYARD_…"
        return f"invalid setting {names}: not valid JSON (lists and objects are written as JSON)"
    return f"invalid settings ({type(error).__name__})"


def env_name(loc: Sequence[int | str]) -> str:
    """The variable a pydantic error location comes from: ('retry', 'delays') → …RETRY__DELAYS."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    delimiter = str(Settings.model_config.get("env_nested_delimiter") or "__")
    return prefix + delimiter.join(str(p).upper() for p in loc if isinstance(p, str))


def env_names(field: str) -> str:
    """The variables that set `field`: EVENTYARD_RETRY, or those under it (…RETRY__DELAYS)."""
    name = env_name([field])
    found = sorted(
        k.upper() for k in os.environ if k.upper() == name or k.upper().startswith(name + "__")
    )
    return ", ".join(found) or name


async def open_connection(settings: Settings, name: str) -> Any:
    """A plain broker connection, or exit 1 saying which broker could not be reached."""
    try:
        return await connect(settings, name)
    except (
        aiormq.exceptions.AuthenticationError,
        aiormq.exceptions.ProbableAuthenticationError,
    ) as error:
        fail(
            f"the broker at {redacted_url(settings)} refused the login "
            f"({type(error).__name__}): check the user name and password"
        )
    except (ConnectionError, OSError, TimeoutError) as error:
        fail(f"cannot reach the broker at {redacted_url(settings)}: {type(error).__name__}")
    except aiormq.exceptions.AMQPError as error:
        # e.g. a vhost that does not exist: the broker answers the open with a close.
        fail(
            f"the broker at {redacted_url(settings)} refused the connection "
            f"({type(error).__name__}): does the vhost exist, and may this user use it?"
        )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; what the broker refuses or breaks ends it in one line."""
    quiet_client_logs()
    try:
        return event_loop.run(coroutine)
    except aiormq.exceptions.ChannelClosed as error:
        fail(refusal(error))
    except aiormq.exceptions.ChannelInvalidStateError:
        fail("the broker closed the channel this command was using; try again")
    except ConnectionError as error:  # aiormq's AMQPConnectionError is one: the broker went away
        fail(f"lost the broker mid-command: {one_line(error)}")
    except UnroutableError as error:
        fail(f"not stored: {error} (run `eventyard topology apply`?)")
    except PublishError as error:
        cause = error.__cause__
        if isinstance(cause, aiormq.exceptions.ChannelClosed):  # e.g. no exchange `events`
            fail(f"not stored: {refusal(cause)}")
        fail(f"not stored: {error}")


def refusal(error: aiormq.exceptions.ChannelClosed) -> str:
    """One line saying what the broker refused, and what to do about it."""
    said = f"the broker refused: {one_line(error)}"
    if isinstance(error, aiormq.exceptions.ChannelPreconditionFailed):
        return (
            f"{said}; a queue or exchange of that name was declared otherwise (by another "
            "application, or an older eventyard): give the yard a vhost of its own"
        )
    if isinstance(error, aiormq.exceptions.ChannelNotFoundEntity):
        return f"{said}; run `eventyard topology apply`"
    if isinstance(error, aiormq.exceptions.ChannelAccessRefused):
        return f"{said}; this user lacks the permission (SECURITY.md: Broker permissions)"
    return said


def one_line(error: BaseException) -> str:
    """The error's text on one line, or its class name when it has none."""
    return " ".join(str(error).split()) or type(error).__name__


def quiet_client_logs() -> None:
    """Keep the broker client's own log lines off the terminal: `fail` says what went wrong."""
    # With no handler configured, Python prints a library's warnings and errors to stderr
    # itself (logging.lastResort); `run SERVICE` configures logging, and still gets them.
    for name in ("aiormq", "aio_pika"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Plain aligned columns (stable for scripts and tests)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
