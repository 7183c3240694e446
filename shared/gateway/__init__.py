"""The gateway: every outbound HTTP call in eventyard goes through `Gateway`."""

from shared.gateway.body import json_body
from shared.gateway.breaker import BreakerState
from shared.gateway.client import Gateway
from shared.gateway.errors import (
    CircuitOpenError,
    GoneError,
    HttpPermanentError,
    HttpTransientError,
    RefusedDestinationError,
    UndecodableResponseError,
    UnreadableJsonError,
)
from shared.gateway.policy import EndpointPolicy, policy_for_destination, policy_for_integration
from shared.gateway.ssrf import Resolver, default_resolver
from shared.gateway.target import url_origin

__all__ = [
    "BreakerState",
    "CircuitOpenError",
    "EndpointPolicy",
    "Gateway",
    "GoneError",
    "HttpPermanentError",
    "HttpTransientError",
    "RefusedDestinationError",
    "Resolver",
    "UndecodableResponseError",
    "UnreadableJsonError",
    "default_resolver",
    "json_body",
    "policy_for_destination",
    "policy_for_integration",
    "url_origin",
]
