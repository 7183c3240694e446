"""Throwaway vhosts on the shared broker, so tests never see each other's queues."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

BROKER = "127.0.0.1:5672"


def _ctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def throwaway_vhost(prefix: str = "eventyard-test") -> Iterator[str]:
    """Create a vhost for guest, yield its AMQP URL, delete it (and all in it) afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    _ctl("add_vhost", name)
    try:
        _ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{BROKER}/{name}"
    finally:
        _ctl("delete_vhost", name)
