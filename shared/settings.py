"""Process settings from the environment (`EVENTYARD_…`, nested with `__`)."""

from __future__ import annotations

import re
from ipaddress import IPv6Address, ip_address, ip_network
from pathlib import Path

from pydantic import BaseModel, Field, HttpUrl, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Production ladder: 5 s … 10 h, about 28.7 h in all, so a whole-day outage loses nothing.
PRODUCTION_DELAYS = [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 18000.0, 36000.0, 36000.0]

BROKER_SCHEMES = ("amqp", "amqps")
PERCENT_ENCODE = (
    "percent-encode reserved characters in the user name and password "
    "(/ → %2F, @ → %40, : → %3A, # → %23, ? → %3F, % → %25)"
)
_NOT_AN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def broker_url_problem(url: str) -> str | None:
    """Why `url` cannot be the broker URL, in words that quote none of it; None if it can.

    A password holding `/`, `?`, `#` or `@` unencoded makes the URL name another host or port
    (or none), and the client would log in elsewhere or not at all: it must be percent-encoded.
    """
    scheme, separator, rest = url.partition("://")
    # The authority ends at the first / ? or #; a raw one in the password ends it early.
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, after = rest[:end], rest[end:]
    userinfo = authority.rpartition("@")[0]
    if not separator:
        problem: str | None = "not a URL; expected amqp://user:password@host:5672/vhost"
    elif scheme.lower() not in BROKER_SCHEMES:
        problem = "the scheme must be amqp or amqps"
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = f"the URL holds a space or a control character; {PERCENT_ENCODE}"
    elif "@" in userinfo:
        problem = f"more than one unencoded @; {PERCENT_ENCODE}"
    elif "@" in after and ":" in authority:
        # `user:pa/ss@host`: which host is meant depends on who parses it
        problem = f"an unencoded / ? # or @ leaves the host unclear; {PERCENT_ENCODE}"
    elif _NOT_AN_ESCAPE.search(userinfo):
        problem = f"a % in the user name or password starts no %XX escape; {PERCENT_ENCODE}"
    else:
        problem = _unparsable(url)
    return problem


def _unparsable(url: str) -> str | None:
    try:
        parsed = URL(url)
        host, port = parsed.host, parsed.explicit_port
    except (ValueError, TypeError) as error:  # yarl's words are looked at, never shown
        if "port" in str(error).lower():
            return "the port must be a number from 1 to 65535"
        return f"not a valid URL; {PERCENT_ENCODE}"
    if not host:
        return "the URL names no host; expected amqp://user:password@host:5672/vhost"
    if port is not None and not 1 <= port <= 65535:
        return "the port must be a number from 1 to 65535"
    return None


class RetrySettings(BaseModel):
    """The retry ladder and the crash guard."""

    delays: list[float] = Field(default_factory=lambda: list(PRODUCTION_DELAYS))
    # Every broker restart or connection loss returns in-flight messages and counts against
    # this too; it only has to stop a message that kills its worker from looping forever.
    delivery_limit: int = Field(default=10, ge=1, le=1000)

    @field_validator("delays")
    @classmethod
    def _positive_and_distinct(cls, delays: list[float]) -> list[float]:
        if not delays:
            raise ValueError("the retry ladder needs at least one delay")
        if any(d <= 0 for d in delays):
            raise ValueError("every retry delay must be positive")
        return delays


class HealthSettings(BaseModel):
    """How often the health service looks, and what it calls degraded."""

    interval_seconds: float = Field(default=10.0, gt=0)
    check_timeout_seconds: float = Field(default=5.0, gt=0)
    queue_depth_warning: int = Field(default=1000, ge=1)
    backlog_warning_seconds: float = Field(default=300.0, gt=0)
    # Services whose /metrics tell which cached queries answer from stale data; empty: the
    # yard's services on loopback at their default ports (`run all` passes its own).
    metrics_urls: list[HttpUrl] = Field(default_factory=list, max_length=64)
    # How often the console's live rates and breaker states are read off those /metrics.
    live_interval_seconds: float = Field(default=5.0, ge=1, le=60)


# Loopback, RFC 1918, RFC 6598 (CGNAT, used by some container networks) and unique-local IPv6.
PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
)


class HttpSettings(BaseModel):
    """Limits on every service's HTTP server (see shared/http_limits.py)."""

    # Open connections; one more is answered 503 and closed at once (in-flight requests too).
    max_connections: int = Field(default=1000, ge=1)
    # The request line and headers of one request; beyond: 431 and the connection closed.
    max_header_bytes: int = Field(default=16384, ge=1024)
    # From a connection's opening or a request's first byte until its headers are complete.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    # From a request's headers until its whole body is read; then the connection is closed.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # How long an idle connection is kept open after a response.
    keep_alive_seconds: int = Field(default=5, ge=1)
    # Webhook bodies held at once across all requests (read, verified, waiting for the
    # broker); a request that would pass it is answered 503 with Retry-After.
    max_body_bytes_in_flight: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Who may read /metrics, /healthz and /readyz: loopback and private networks by default, so
    # a service whose port faces the internet shows its internals only inside.
    operator_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network(n) for n in PRIVATE_NETWORKS]
    )

    def operator(self, host: str | None) -> bool:
        """Whether a client at `host` may read the operator endpoints."""
        try:
            address = ip_address(host or "")
        except ValueError:
            return False
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.operator_networks)


class DedupeSettings(BaseModel):
    """Where intake remembers webhook deliveries (services/intake/dedupe.py)."""

    # None: a window in this process, right for one intake process. With several (`run intake
    # --workers N`, or replicas), redis://host:6379/0 (or rediss://, unix://) shared by all.
    url: SecretStr | None = None
    window_seconds: float = Field(default=24 * 3600.0, gt=0)
    # The in-process window's bound; Redis keys expire by the window alone.
    max_entries: int = Field(default=100_000, ge=1)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return url


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class AttemptsSettings(BaseModel):
    """Where the attempts log lives and how long it keeps them (shared/attempts/)."""

    # sqlite:///PATH (embedded, the default) or postgresql://user@host/db (the `postgres` extra).
    url: SecretStr = SecretStr("sqlite:///eventyard-attempts.db")
    max_age_days: float = Field(default=14.0, gt=0)
    max_rows: int = Field(default=1_000_000, ge=1)
    prune_interval_seconds: float = Field(default=300.0, gt=0)
    # Every service reports its attempts (attempts.recorded.v1) unless this is off.
    report: bool = True
    report_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    report_capacity: int = Field(default=10_000, ge=500)  # waiting beyond it: the oldest go

    @field_validator("url")
    @classmethod
    def _store_url(cls, url: SecretStr) -> SecretStr:
        if not url.get_secret_value().startswith(("sqlite:///", "postgresql://")):
            raise ValueError("must be sqlite:///PATH or postgresql://…")
        return url


class ConsoleSettings(BaseModel):
    """The console's actions (replay and purge a failure group): off without a token."""

    # Typed by the operator into each action's form; compared in constant time, never logged.
    token: SecretStr | None = None
    csrf_max_age_seconds: int = Field(default=600, ge=10)  # how long a confirmation form lasts

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters")
        return token


MIN_TOKEN_CHARS = 16


class TracingSettings(BaseModel):
    """OpenTelemetry traces (shared/tracing/): off unless enabled; on needs the `tracing` extra."""

    enabled: bool = False
    # The collector's OTLP/HTTP traces URL (http://collector:4318/v1/traces); None: the
    # exporter's own default, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT.
    otlp_endpoint: HttpUrl | None = None


class Settings(BaseSettings):
    """Everything a process reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTYARD_", env_nested_delimiter="__", extra="ignore"
    )

    broker_url: SecretStr = SecretStr(DEFAULT_BROKER_URL)
    config: Path = Path("eventyard.toml")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    dedupe: DedupeSettings = Field(default_factory=DedupeSettings)
    attempts: AttemptsSettings = Field(default_factory=AttemptsSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    prefetch: int = Field(default=100, ge=1, le=65535)
    # Processes of this service running at once, on every machine together: each destination's
    # and integration's rate limit is divided between them. `run SERVICE --workers N`
    # multiplies it by N for its workers.
    replicas: int = Field(default=1, ge=1, le=1000)
    heartbeat_seconds: int = Field(default=10, ge=0)
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    graceful_timeout_seconds: float = Field(default=30.0, ge=0)
    http_host: str = "127.0.0.1"
    log_level: str = "INFO"
    templates_dir: Path | None = None  # the email templates; None: the ones eventyard ships

    @field_validator("broker_url")
    @classmethod
    def _usable_broker_url(cls, url: SecretStr) -> SecretStr:
        problem = broker_url_problem(url.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return url
