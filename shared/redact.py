"""Keeps secrets out of error messages, logs and parked-message headers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

MAX_ERROR_CHARS = 500
MIN_SECRET_CHARS = 4

_PATTERNS = (
    # user:password@ in URLs (amqp, http, smtp)
    (re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]*@"), r"\g<keep>***@"),
    (re.compile(r"(?i)(?P<keep>\bauthorization\s*[:=]\s*)[^\r\n,;]+"), r"\g<keep>***"),
    (re.compile(r"(?i)(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"), r"\g<keep>***"),
    (
        re.compile(
            r"(?i)(?P<keep>\b(?:api[-_]?key|token|secret|password|passwd)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        r"\g<keep>***",
    ),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_***"),
)


class Redactor:
    """Replaces known secret values and secret-looking patterns, and bounds the length."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lasting = set(secrets)
        # Counted, so concurrent requests hiding the same value do not unhide it for each other.
        self._passing: Counter[str] = Counter()
        self._secrets = self._ordered()

    def add(self, secret: str) -> None:
        """Also hide this value from now on (for secrets the process keeps)."""
        if secret not in self._lasting:
            self._lasting.add(secret)
            self._secrets = self._ordered()

    @contextmanager
    def hiding(self, secret: str) -> Iterator[None]:
        """Also hide this value until the block ends (for per-request secrets such as tokens)."""
        self._passing[secret] += 1
        self._secrets = self._ordered()
        try:
            yield
        finally:
            self._passing[secret] -= 1
            if self._passing[secret] <= 0:
                del self._passing[secret]
            self._secrets = self._ordered()

    def _ordered(self) -> list[str]:
        # Longest first, so a secret that contains another is replaced whole. A new list each
        # time: a `clean` already running keeps iterating the one it started with.
        found = {s for s in (*self._lasting, *self._passing) if len(s) >= MIN_SECRET_CHARS}
        return sorted(found, key=len, reverse=True)

    def clean(self, text: str, limit: int = MAX_ERROR_CHARS) -> str:
        """The text with secrets replaced by `***`, cut to `limit` characters."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text if len(text) <= limit else text[: limit - 1] + "…"
