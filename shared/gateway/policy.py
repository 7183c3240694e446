"""Per-endpoint policy: where an endpoint lives, how it authenticates, and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

import httpx

from shared.config import MIB, BreakerConfig, DestinationConfig, IntegrationConfig
from shared.errors import ConfigError

AuthKind = Literal["none", "bearer", "basic", "header"]


@dataclass(frozen=True)
class EndpointPolicy:
    """How the gateway talks to one integration or destination."""

    name: str
    base_url: str
    auth: AuthKind = "none"
    auth_header: str = "Authorization"
    # Environment-variable names, newest first; values are read at call time.
    credentials: tuple[str, ...] = ()
    connect_timeout: float = 5.0
    timeout: float = 15.0
    rate_limit_per_second: float = 50.0
    concurrency: int = 20
    max_retries: int = 2
    allow_private_network: bool = False
    max_response_bytes: int = MIB
    breaker_failure_rate: float = 0.5
    breaker_window: int = 20
    breaker_min_calls: int = 5
    breaker_open_seconds: float = 30.0

    def __post_init__(self) -> None:
        """Refuse a policy the gateway could not honour, at startup rather than per call."""
        problems = _problems(self)
        if problems:
            raise ConfigError(f"endpoint {self.name!r}: {'; '.join(problems)}")


def _problems(policy: EndpointPolicy) -> list[str]:
    problems: list[str] = []
    try:
        url = httpx.URL(policy.base_url)
    except httpx.InvalidURL as error:
        return [f"base_url is not a URL ({error})"]
    if url.scheme not in ("http", "https") or not url.host:
        problems.append("base_url must be an absolute http(s) URL")
    if url.userinfo:
        # httpx would turn user:password@ into an Authorization header; secrets live in env vars.
        problems.append("base_url must not carry user:password@; use credentials")
    if policy.auth != "none" and not policy.credentials:
        problems.append(f"auth {policy.auth!r} needs at least one credential")
    positive = {
        "connect_timeout": policy.connect_timeout,
        "timeout": policy.timeout,
        "rate_limit_per_second": policy.rate_limit_per_second,
        "concurrency": policy.concurrency,
        "max_response_bytes": policy.max_response_bytes,
        "breaker_window": policy.breaker_window,
        "breaker_min_calls": policy.breaker_min_calls,
        "breaker_open_seconds": policy.breaker_open_seconds,
    }
    problems += [f"{field} must be > 0" for field, value in positive.items() if value <= 0]
    if policy.max_retries < 0:
        problems.append("max_retries must be >= 0")
    if not 0 < policy.breaker_failure_rate <= 1:
        problems.append("breaker_failure_rate must be in (0, 1]")
    return problems


def policy_for_integration(name: str, config: IntegrationConfig) -> EndpointPolicy:
    """The policy for an `[integrations.<name>]` table."""
    return EndpointPolicy(
        name=name,
        base_url=str(config.base_url),
        auth=config.auth,
        auth_header=config.auth_header,
        credentials=tuple(config.credentials),
        connect_timeout=config.connect_timeout_seconds,
        timeout=config.timeout_seconds,
        rate_limit_per_second=config.rate_limit_per_second,
        concurrency=config.concurrency,
        max_retries=config.max_retries,
        allow_private_network=config.allow_private_network,
        max_response_bytes=config.max_response_bytes,
        **_breaker(config.breaker),
    )


def policy_for_destination(name: str, config: DestinationConfig) -> EndpointPolicy:
    """The policy for a `[destinations.<name>]` table: no auth, no in-call retries."""
    # Destination secrets sign payloads (the publisher's job); they are not HTTP credentials.
    # The queue's retry ladder retries deliveries, so in-call retries would only multiply them.
    return EndpointPolicy(
        name=name,
        base_url=str(config.url),
        timeout=config.timeout_seconds,
        connect_timeout=min(5.0, config.timeout_seconds),
        rate_limit_per_second=config.rate_limit_per_second,
        concurrency=config.concurrency,
        max_retries=0,
        allow_private_network=config.allow_private_network,
        max_response_bytes=config.max_response_bytes,
        **_breaker(config.breaker),
    )


class _BreakerFields(TypedDict):
    breaker_failure_rate: float
    breaker_window: int
    breaker_min_calls: int
    breaker_open_seconds: float


def _breaker(config: BreakerConfig) -> _BreakerFields:
    return {
        "breaker_failure_rate": config.failure_rate,
        "breaker_window": config.window,
        "breaker_min_calls": config.min_calls,
        "breaker_open_seconds": config.open_seconds,
    }
