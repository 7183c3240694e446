"""Parked messages grouped by cause (`eventyard parked groups`), and the purge of one group.

Reading a group leaves every message parked: each is fetched unacked and returned when the
channel closes. Purging a group acks (deletes) only that group's messages; the rest go back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from aio_pika.abc import AbstractConnection

from shared.causes import Cause
from shared.parking import ParkedMessage, cause, read_parked

SAMPLE_IDS = 3


@dataclass
class Group:
    """Parked messages with one cause: how many, the oldest and newest failure, a few ids."""

    cause: Cause
    count: int = 0
    oldest: str | None = None
    newest: str | None = None
    message_ids: list[str] = field(default_factory=list)

    def add(self, parked: ParkedMessage) -> None:
        """Count one more message of this cause."""
        self.count += 1
        stamp = parked.last_failure or parked.first_failure
        if stamp is not None:
            self.oldest = min(self.oldest or stamp, stamp)
            self.newest = max(self.newest or stamp, stamp)
        if parked.message_id and len(self.message_ids) < SAMPLE_IDS:
            self.message_ids.append(parked.message_id)


@dataclass
class Scan:
    """What a pass over a parked queue found and did."""

    scanned: int = 0
    matched: int = 0
    purged: int = 0
    groups: dict[str, Group] = field(default_factory=dict)


async def scan(
    connection: AbstractConnection,
    parked_queue: str,
    *,
    purge_group: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    progress: Callable[[Scan], None] = lambda _: None,
) -> Scan:
    """Group the messages parked when the scan starts (at most `limit`); with `purge_group`,
    delete that group's messages (`dry_run`: only count them)."""
    result = Scan()
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(parked_queue, passive=True)
        present = queue.declaration_result.message_count or 0
        while result.scanned < min(present, limit or present):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            result.scanned += 1
            parked = read_parked(message, parked_queue)
            found = cause(parked)
            result.groups.setdefault(found.id, Group(found)).add(parked)
            if purge_group is not None and found.id == purge_group:
                result.matched += 1
                if not dry_run:
                    await message.ack()
                    result.purged += 1
            progress(result)
        return result
    finally:
        # Every message not acked above returns to the parked queue.
        with contextlib.suppress(Exception):
            await channel.close()
