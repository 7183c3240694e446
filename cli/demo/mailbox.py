"""Reads the emails the console provider appended to its file, as they arrive."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

END = "--- end of email ---\n"
BLOCK = re.compile(r"--- email (?P<id>\S+) ---\n(?P<text>.*?)\n--- end of email ---\n", re.S)


@dataclass(frozen=True)
class Mail:
    """One printed email."""

    message_id: str
    subject: str
    to: str
    text: str


def parse(chunk: str) -> list[Mail]:
    """Every complete email block in `chunk`."""
    mails = []
    for block in BLOCK.finditer(chunk):
        head, _, body = block["text"].partition("\n\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        mails.append(Mail(block["id"], fields.get("Subject", ""), fields.get("To", ""), body))
    return mails


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    """What was appended to `path` after `offset`, and the new offset."""
    if not path.exists() or path.stat().st_size <= offset:
        return "", offset
    with path.open(encoding="utf-8") as file:
        file.seek(offset)
        return file.read(), file.tell()


async def follow(path: Path, feed: asyncio.Queue[Any], every: float = 0.1) -> None:
    """Put every email appended to `path` from now on into `feed` (runs until cancelled)."""
    _, offset = await asyncio.to_thread(_read_from, path, 0)
    pending = ""
    while True:
        chunk, offset = await asyncio.to_thread(_read_from, path, offset)
        if chunk:
            pending += chunk
            for mail in parse(pending):
                feed.put_nowait(mail)
            last = pending.rfind(END)
            if last >= 0:
                pending = pending[last + len(END) :]
        await asyncio.sleep(every)
