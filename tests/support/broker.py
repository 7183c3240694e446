"""Throwaway vhosts on the shared broker, so tests never see each other's queues."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

BROKER = "127.0.0.1:5672"
ACTING_USER = "eventyard-tests"
# Each rabbitmqctl call starts an Erlang VM (~0.9 s here): three per test were ~40% of the
# suite's time. Tests' vhosts are made several at a time in one call, and deleted in the
# background while the next test runs.
TEST_BATCH = 8

_ready: dict[str, list[str]] = {}
_deleting: list[subprocess.Popen[bytes]] = []


def _ctl_command() -> str:
    return shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"


def ctl(*args: str) -> None:
    """Run `rabbitmqctl -q ARGS…` against the local broker."""
    subprocess.run([_ctl_command(), "-q", *args], check=True, capture_output=True, timeout=60)


def _erlang_list(names: list[str]) -> str:
    return "[" + ",".join(f'<<"{name}">>' for name in names) + "]"


def _create(names: list[str]) -> None:
    """Create the vhosts with full permissions for guest, in one rabbitmqctl call."""
    user, everything = f'<<"{ACTING_USER}">>', '<<".*">>'
    ctl(
        "eval",
        f"[begin ok = rabbit_vhost:add(V, {user}), "
        f'ok = rabbit_auth_backend_internal:set_permissions(<<"guest">>, V, '
        f"{everything}, {everything}, {everything}, {user}) end "
        f"|| V <- {_erlang_list(names)}], ok.",
    )


def _take(prefix: str) -> str:
    ready = _ready.setdefault(prefix, [])
    if not ready:
        batch = TEST_BATCH if prefix == "eventyard-test" else 1
        names = [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(batch)]
        _create(names)
        ready.extend(names)
    return ready.pop()


def _delete_soon(name: str) -> None:
    """Delete the vhost (and everything in it) without waiting for it."""
    _deleting[:] = [p for p in _deleting if p.poll() is None]
    _deleting.append(
        subprocess.Popen(
            [_ctl_command(), "-q", "delete_vhost", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )


@atexit.register
def _clean_up() -> None:
    for process in _deleting:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
    unused = [name for names in _ready.values() for name in names]
    if unused:
        user = f'<<"{ACTING_USER}">>'
        with suppress(subprocess.SubprocessError, OSError):
            ctl("eval", f"[rabbit_vhost:delete(V, {user}) || V <- {_erlang_list(unused)}], ok.")


@contextmanager
def throwaway_vhost(prefix: str = "eventyard-test", *, background: bool = True) -> Iterator[str]:
    """A fresh vhost for guest: yield its AMQP URL, delete it (and all in it) afterwards.

    `background=False` waits for the deletion (benchmarks: the broker must be idle after).
    """
    name = _take(prefix)
    try:
        yield f"amqp://guest:guest@{BROKER}/{name}"
    finally:
        if background:
            _delete_soon(name)
        else:
            ctl("delete_vhost", name)


@contextmanager
def broker_user(
    broker_url: str, password: str, *, configure: str, write: str, read: str
) -> Iterator[str]:
    """A user with these permission patterns on the vhost of `broker_url`; deleted afterwards."""
    vhost = broker_url.rsplit("/", 1)[-1]
    user = f"eventyard-test-{uuid.uuid4().hex[:8]}"
    ctl("add_user", user, password)
    try:
        ctl("set_permissions", "-p", vhost, user, configure, write, read)
        yield user
    finally:
        ctl("delete_user", user)
