"""The integrations file (`eventyard.toml`): every connection the yard makes, declared."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from string import Formatter
from typing import Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import ConfigError

MIB = 1024 * 1024
REFUND_EVENT = "order.cancelled.v1"  # what a payments integration's refund step takes
_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
_CONTRACT_KEY = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+\.v[1-9][0-9]{0,3}$")
_T = TypeVar("_T")


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Catalogue(_Table):
    """The four questions every connection answers: what it gives, costs and risks."""

    capability: str | None = None
    dependency: str | None = None
    on_failure: str | None = None
    criticality: Literal["low", "medium", "high", "critical"] | None = None

    def missing_answers(self) -> list[str]:
        """The names of the questions left unanswered."""
        answers = ("capability", "dependency", "on_failure", "criticality")
        return [name for name in answers if getattr(self, name) is None]


class BreakerConfig(_Table):
    """When the circuit breaker of one integration or destination opens, and for how long."""

    failure_rate: float = Field(default=0.5, gt=0, le=1)
    window: int = Field(default=20, ge=1)  # the last N calls
    min_calls: int = Field(default=5, ge=1)  # before it may open at all
    open_seconds: float = Field(default=30.0, gt=0)  # until a half-open probe


class SourceConfig(Catalogue):
    """An inbound webhook source: `POST /webhooks/{name}`."""

    scheme: Literal["standard-webhooks", "stripe", "github", "hmac-sha256"]
    secrets: list[str] = Field(min_length=1)
    tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=MIB, ge=1)
    map: dict[str, str] = Field(default_factory=dict)
    signature_header: str = "X-Signature"
    signature_encoding: Literal["hex", "base64"] = "hex"
    id_header: str | None = None


class DestinationConfig(Catalogue):
    """An outbound webhook destination, fed from queue `publisher.dest.<name>`."""

    url: HttpUrl
    events: list[str] = Field(min_length=1)
    secrets: list[str] = Field(default_factory=list)
    policy: Literal["reliable", "best-effort"] = "reliable"
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    timeout_seconds: float = Field(default=15.0, gt=0)
    concurrency: int = Field(default=10, ge=1)
    allow_private_network: bool = False
    max_response_bytes: int = Field(default=MIB, ge=1)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)

    @field_validator("events")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not pattern or " " in pattern or pattern.startswith("."):
                raise ValueError(f"{pattern!r} is not a routing-key pattern")
        return patterns


def plain_names(tables: dict[str, _T]) -> dict[str, _T]:
    """The tables, when every name is one that queues, metrics and event types can carry."""
    for name in tables:
        # isascii: isalnum and islower pass "café" too, which no event type or queue takes.
        plain = name.isascii() and name.replace("-", "").replace("_", "").isalnum()
        if not plain or not name.islower():
            raise ValueError(f"{name!r}: names are lower-case ASCII letters, digits, - and _")
    return tables


class ReadConfig(Catalogue):
    """A cached query on an integration: `GET path`, answered from cache, in time, or by its
    fallback (`[integrations.<name>.reads.<query>]`; shared/gateway/query.py)."""

    path: str = Field(pattern=r"^/[^\s?#]*$", max_length=500)
    ttl_seconds: float = Field(default=300.0, gt=0)
    negative_ttl_seconds: float = Field(default=30.0, ge=0)  # a 404 is remembered this long
    timeout_seconds: float = Field(default=2.0, gt=0)  # the most a caller waits for an answer
    stale_for_seconds: float = Field(default=86_400.0, ge=0)  # an expired copy may stand in
    # What answers when nothing fresh or stale does: a value, or "skip" (leave the field out).
    fallback: dict[str, str | int | float | bool | None] | Literal["skip"] = "skip"
    max_entries: int = Field(default=10_000, ge=1)
    max_bytes: int = Field(default=16 * MIB, ge=1)

    @field_validator("path")
    @classmethod
    def _placeholders(cls, path: str) -> str:
        try:
            names = [field for _, field, _, _ in Formatter().parse(path) if field is not None]
        except ValueError as error:
            raise ValueError(f"not a path template: {error}") from None
        for name in names:
            if not name.isidentifier():
                raise ValueError(f"placeholder {{{name}}} must be a plain name")
        return path


class IntegrationConfig(Catalogue):
    """An HTTP API called through the gateway (CRM, warehouse, mail API, OAuth provider…)."""

    base_url: HttpUrl
    auth: Literal["none", "bearer", "basic", "header"] = "none"
    auth_header: str = "Authorization"
    credentials: list[str] = Field(default_factory=list)
    health_url: HttpUrl | None = None
    health_timeout_seconds: float = Field(default=2.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=15.0, gt=0)
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    concurrency: int = Field(default=20, ge=1)
    max_retries: int = Field(default=2, ge=0)
    allow_private_network: bool = False
    max_response_bytes: int = Field(default=MIB, ge=1)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    # A follow-up step that calls this integration: `module:factory`, where factory(gateway,
    # name) returns the handler. order-followup runs it on its own queue, bound to `events`.
    step: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    events: list[str] = Field(default_factory=lambda: ["order.created.v1"], min_length=1)
    reads: dict[str, ReadConfig] = Field(default_factory=dict)
    # An analytics provider's adapter by name (services/publisher/analytics/): this integration
    # then receives every analytics.tracked.v1, once, fire-and-forget.
    analytics: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    # A payment provider's adapter by name (services/order_followup/payments/): order-followup
    # then refunds every cancelled order through it; `events` defaults to order.cancelled.v1.
    payments: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")

    @model_validator(mode="before")
    @classmethod
    def _refund_events(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("payments") and "events" not in data:
            return {**data, "events": [REFUND_EVENT]}
        return data

    @model_validator(mode="after")
    def _one_role(self) -> IntegrationConfig:
        roles = [r for r in ("step", "analytics", "payments") if getattr(self, r) is not None]
        if len(roles) > 1:
            raise ValueError(f"{' and '.join(roles)}: an integration plays one of these roles")
        return self

    @field_validator("reads")
    @classmethod
    def _read_names(cls, reads: dict[str, ReadConfig]) -> dict[str, ReadConfig]:
        return plain_names(reads)


class ConsumerConfig(Catalogue):
    """A company service outside the yard that consumes with the FastStream kit
    (shared/faststream.py): its queues follow the yard's failure rules, so `topology apply`
    declares them and `eventyard parked` serves their parked queues."""

    # queue name -> the contracts it is bound to (`TYPE.vN`)
    queues: dict[str, list[str]] = Field(min_length=1)

    @field_validator("queues")
    @classmethod
    def _queues(cls, queues: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, keys in queues.items():
            if not _QUEUE_NAME.match(name) or name.endswith(".parked"):
                raise ValueError(f"{name!r} is not a work queue's name")
            if not keys or not all(_CONTRACT_KEY.match(key) for key in keys):
                raise ValueError(f"{name!r}: name the contracts it takes, as TYPE.vN")
        return queues


class EmailConfig(Catalogue):
    """The mail provider the email service sends through."""

    # smtp, http (a generic JSON mail API), console, or a hosted API's adapter by name
    # (services/email/apis/); the email service refuses an unknown one at start-up.
    provider: str = Field(default="console", pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    # A header field of every email: no line break may start a header of its own.
    from_address: str = Field(default="eventyard@example.com", pattern=r"^[^\x00-\x1f\x7f]+$")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, description="env-var name holding it")
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    http_integration: str | None = None
    http_path: str = "/send"
    console_path: Path | None = Field(
        default=None, description="console provider: also append each email to this file"
    )


class OAuthProviderConfig(Catalogue):
    """A sign-in provider: `GET /oauth/{name}/start` and `/oauth/{name}/callback` on intake."""

    authorize_url: HttpUrl
    token_url: HttpUrl
    userinfo_url: HttpUrl
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, description="env-var name holding it")
    scopes: list[str] = Field(default_factory=list)
    redirect_url: HttpUrl
    success_url: HttpUrl
    error_url: HttpUrl
    state_secret: str = Field(min_length=1, description="env-var name of the signing key")
    state_ttl_seconds: int = Field(default=600, ge=30)
    session_ttl_seconds: int = Field(default=86400, ge=60)
    timeout_seconds: float = Field(default=10.0, gt=0)
    allow_private_network: bool = False


class IntegrationsFile(_Table):
    """The whole integrations file."""

    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    integrations: dict[str, IntegrationConfig] = Field(default_factory=dict)
    email: EmailConfig = Field(default_factory=EmailConfig)
    oauth: dict[str, OAuthProviderConfig] = Field(default_factory=dict)
    consumers: dict[str, ConsumerConfig] = Field(default_factory=dict)

    @field_validator("destinations", "sources", "integrations", "oauth", "consumers")
    @classmethod
    def _names(cls, tables: dict[str, object]) -> dict[str, object]:
        return plain_names(tables)

    @model_validator(mode="after")
    def _distinct_endpoint_names(self) -> IntegrationsFile:
        # Destinations and integrations share the gateway's endpoint names and metric labels.
        shared = sorted(set(self.destinations) & set(self.integrations))
        if shared:
            raise ValueError(f"{', '.join(shared)}: a destination and an integration share a name")
        return self

    def catalogue(self) -> list[tuple[str, str, Catalogue]]:
        """(kind, name, answers) for every connection the file declares."""
        entries: list[tuple[str, str, Catalogue]] = [
            *(("source", n, c) for n, c in self.sources.items()),
            *(("destination", n, c) for n, c in self.destinations.items()),
            *(("integration", n, c) for n, c in self.integrations.items()),
            *(
                ("read", f"{n}.{q}", r)
                for n, c in self.integrations.items()
                for q, r in c.reads.items()
            ),
            *(("oauth", n, c) for n, c in self.oauth.items()),
            *(("consumer", n, c) for n, c in self.consumers.items()),
        ]
        if "email" in self.model_fields_set:
            entries.append(("email", self.email.provider, self.email))
        return entries

    def unanswered(self) -> list[str]:
        """`<table>: <missing questions>` for every connection that does not justify itself."""
        tables = {
            "source": "sources",
            "destination": "destinations",
            "integration": "integrations",
            "oauth": "oauth",
            "consumer": "consumers",
        }
        return [
            f"{tables[kind]}.{name}: {', '.join(missing)}"
            if kind in tables
            else f"integrations.{name.replace('.', '.reads.', 1)}: {', '.join(missing)}"
            if kind == "read"
            else f"email: {', '.join(missing)}"
            for kind, name, answers in self.catalogue()
            if (missing := answers.missing_answers())
        ]

    def secret_names(self) -> list[str]:
        """Every environment-variable name the file says holds a secret."""
        names = [n for s in self.sources.values() for n in s.secrets]
        names += [n for d in self.destinations.values() for n in d.secrets]
        names += [n for i in self.integrations.values() for n in i.credentials]
        names += [n for o in self.oauth.values() for n in (o.client_secret, o.state_secret)]
        if self.email.smtp_password:
            names.append(self.email.smtp_password)
        return names


def load_integrations(path: Path) -> IntegrationsFile:
    """Read and validate the integrations file; a missing file means no integrations."""
    if not path.exists():
        return IntegrationsFile()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        integrations = IntegrationsFile.model_validate(raw)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from error
    unanswered = integrations.unanswered()
    if unanswered:
        # Every connection is a commitment: it must say what it gives, needs, risks and weighs.
        raise ConfigError(
            f"{path}: every connection needs capability, dependency, on_failure and "
            f"criticality; missing: {'; '.join(unanswered)}"
        )
    return integrations


def read_secret(env_name: str) -> str:
    """The value of a secret named in the integrations file; ConfigError if unset."""
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(f"secret {env_name} is not set in the environment")
    return value
