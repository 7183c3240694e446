"""Keeps secrets out of error messages, logs and parked-message headers."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_ERROR_CHARS = 500

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
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Also hide this value from now on."""
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def clean(self, text: str, limit: int = MAX_ERROR_CHARS) -> str:
        """The text with secrets replaced by `***`, cut to `limit` characters."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text if len(text) <= limit else text[: limit - 1] + "…"
