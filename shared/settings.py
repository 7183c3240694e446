"""Process settings from the environment (`EVENTYARD_…`, nested with `__`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Production ladder: 5 s … 10 h, about 28.7 h in all, so a whole-day outage loses nothing.
PRODUCTION_DELAYS = [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 18000.0, 36000.0, 36000.0]


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


class Settings(BaseSettings):
    """Everything a process reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTYARD_", env_nested_delimiter="__", extra="ignore"
    )

    broker_url: SecretStr = SecretStr(DEFAULT_BROKER_URL)
    config: Path = Path("eventyard.toml")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    prefetch: int = Field(default=100, ge=1, le=65535)
    heartbeat_seconds: int = Field(default=10, ge=0)
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    graceful_timeout_seconds: float = Field(default=30.0, ge=0)
    http_host: str = "127.0.0.1"
    log_level: str = "INFO"
    templates_dir: Path | None = None  # the email templates; None: the ones eventyard ships
