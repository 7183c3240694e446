"""What an answer means (the status → error mapping) and how long to wait before trying again."""

from __future__ import annotations

import random
import re
from email.utils import parsedate_to_datetime

import httpx

from shared.errors import EventyardError, TransientError
from shared.gateway.errors import (
    GoneError,
    HttpPermanentError,
    HttpTransientError,
    RefusedDestinationError,
)
from shared.redact import Redactor

# Only reads repeat safely on their own; a server may not treat PUT or DELETE as idempotent.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BACKOFF_BASE = 0.2
BACKOFF_CAP = 5.0
# Longer waits belong to the caller's retry ladder, which does not hold a worker while waiting.
MAX_IN_CALL_WAIT = 5.0
EXCERPT_CHARS = 200

_TRANSIENT_4XX = frozenset({408, 409, 425, 429})
_QUERY = re.compile(r"(https?://[^\s?#]*)\?[^\s#]*")
_SPACE = re.compile(r"\s+")


def may_retry(method: str, idempotency_key: str | None) -> bool:
    """Whether the call may be repeated: a read, or a write that carries an Idempotency-Key."""
    return method in READ_METHODS or idempotency_key is not None


def backoff(retry: int) -> float:
    """Exponential backoff with full jitter before retry number `retry` (1-based)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (retry - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter spreads load; it guards nothing


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), never negative."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def excerpt(redactor: Redactor, text: str) -> str:
    """A short, single-line, redacted excerpt with query strings dropped from URLs."""
    text = _QUERY.sub(r"\1?…", _SPACE.sub(" ", text).strip())
    return redactor.clean(text, limit=EXCERPT_CHARS)


def response_error(
    where: str, response: httpx.Response, redactor: Redactor, now: float
) -> EventyardError | None:
    """The error a response stands for, or None for a 2xx answer."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        message = f"{where} returned {status}: redirect not followed"
        return RefusedDestinationError(message, status_code=status)
    message = f"{where} returned {status}"
    body = excerpt(redactor, response.text)
    if body:
        message = f"{message}: {body}"
    answer = response.content
    if status >= 500 or status in _TRANSIENT_4XX:
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        return HttpTransientError(
            message, status_code=status, retry_after=retry_after, answer=answer
        )
    if status == 410:
        return GoneError(message, status_code=status, answer=answer)
    return HttpPermanentError(message, status_code=status, answer=answer)


def transport_error(where: str, error: Exception, redactor: Redactor) -> TransientError:
    """A timeout or connection failure, named without its (possibly secret-bearing) URL."""
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return TransientError(f"{where} timed out ({type(error).__name__})")
    detail = excerpt(redactor, str(error))
    suffix = f": {detail}" if detail else ""
    return TransientError(f"{where} failed: {type(error).__name__}{suffix}")


def is_breaker_failure(status: int | None) -> bool:
    """Whether an outcome says the endpoint is unwell (no answer, 5xx or 429)."""
    return status is None or status >= 500 or status == 429
