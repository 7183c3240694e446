"""The gateway's own errors, each carrying the reason a parked message is counted under."""

from __future__ import annotations

from shared.errors import PermanentError, Reason, TransientError

# The most of an error answer's body an error keeps, for an adapter to read the provider's
# own error code from (never shown: messages carry a redacted excerpt instead).
ANSWER_BYTES = 4096


class HttpTransientError(TransientError):
    """Worth retrying: the endpoint answered with this status (5xx, 408, 409, 425, 429)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        answer: bytes = b"",
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status_code = status_code
        self.answer = answer[:ANSWER_BYTES]


class HttpPermanentError(PermanentError):
    """Retrying cannot help: the endpoint answered with this status (most 4xx)."""

    def __init__(
        self, message: str, *, status_code: int | None = None, answer: bytes = b""
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.answer = answer[:ANSWER_BYTES]


class GoneError(HttpPermanentError):
    """HTTP 410: the resource is gone for good; the caller disables the destination."""

    reason_class = Reason.GONE


class ResponseTooLargeError(HttpPermanentError):
    """A 2xx answer whose body is over the endpoint's `max_response_bytes`: not read whole."""


class UndecodableResponseError(HttpPermanentError):
    """A 2xx answer whose body the gateway does not decode: stacked, unknown or corrupt coding."""


class UnreadableJsonError(PermanentError):
    """An answer whose body is not JSON, or nests deeper than the gateway parses."""


class RefusedDestinationError(HttpPermanentError):
    """The gateway refused to connect: a non-global address, a bad scheme, or a redirect."""

    reason_class = Reason.REFUSED


class CircuitOpenError(TransientError):
    """The endpoint's circuit breaker is open: the call failed fast, without any I/O."""
