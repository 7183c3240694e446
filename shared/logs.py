"""JSON log lines carrying the service, event id and correlation id, with secrets redacted.

Every line goes through `Redactor.clean`, the same function the parked headers and attempt
records use: the message, every extra field (and any field named like a credential is masked
whole) and the exception text. Until a service hands over its own redactor (`use_redactor`,
which knows the configured secret values) the patterns alone apply.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

from shared.redact import MASK, Redactor, is_sensitive_key

event_id_var: ContextVar[str | None] = ContextVar("event_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# Log lines are not cut at the error messages' 500 characters; a traceback is kept whole.
LOG_LIMIT = 64 * 1024
_NESTING = 4

_redactor = Redactor()


def use_redactor(redactor: Redactor) -> None:
    """Redact log lines with `redactor` (the service's, which knows its secret values)."""
    global _redactor  # noqa: PLW0603 - one per process, set once the service has built it
    _redactor = redactor


def redact(value: object, depth: int = 0) -> object:
    """A log field's value with secrets removed: strings cleaned, containers walked."""
    if isinstance(value, str):
        return _redactor.clean(value, LOG_LIMIT)
    if value is None or isinstance(value, bool | int | float | datetime):
        return value
    if depth < _NESTING and isinstance(value, dict):
        return {
            str(k): MASK if is_sensitive_key(str(k)) else redact(v, depth + 1)
            for k, v in value.items()
        }
    if depth < _NESTING and isinstance(value, list | tuple | set | frozenset):
        return [redact(v, depth + 1) for v in value]
    return _redactor.clean(str(value), LOG_LIMIT)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields and the message context are included."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        event_id, correlation_id = event_id_var.get(), correlation_id_var.get()
        if event_id:
            line["event_id"] = redact(event_id)
        if correlation_id:
            line["correlation_id"] = redact(correlation_id)
        line.update(
            {
                k: MASK if is_sensitive_key(k) else redact(v)
                for k, v in vars(record).items()
                if k not in _STANDARD and not k.startswith("_")
            }
        )
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr; quiet the chatty client libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
