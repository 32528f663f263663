"""Configuration from the environment (``STOPPOC_*``), with defaults that work on a
machine running RabbitMQ and PostgreSQL locally."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOPPOC_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/stoppoc"
    namespace: str = Field(default="stoppoc", pattern=r"^[A-Za-z0-9_.-]+$")

    # Messages one service instance handles at once (the channel's prefetch).
    prefetch: int = Field(default=8, ge=1)
    # Attempts at a message whose failure looks transient, before it is dead-lettered. With the
    # base below the backoff rides out about half a minute of outage (a database restart).
    max_attempts: int = Field(default=8, ge=1)
    # Deliveries of one message the broker may make before it is dead-lettered with
    # `redelivery_limit`: a message whose handling kills the process is not redelivered forever.
    max_deliveries: int = Field(default=5, ge=1)
    retry_base_seconds: float = Field(default=0.5, gt=0)
    # The outbox relay is woken by each commit; this poll catches rows of other instances.
    relay_poll_seconds: float = Field(default=1.0, gt=0)

    # How often clock-driven work (expired waits, reminders) looks for something to do.
    sweep_seconds: float = Field(default=1.0, gt=0)

    vat_percent: int = Field(default=10, ge=0, le=100)
    # The usage cycles a customer may choose (months), each with its discount in percent.
    usage_cycles: dict[int, int] = {1: 0, 3: 0, 6: 5, 12: 10, 24: 15, 36: 20}
    # How long an order the wallet cannot cover waits for a top-up before it fails (0: fail at once).
    funds_wait_seconds: float = Field(default=1800, ge=0)
    # Reminders before a cluster's POC wallet expires, in days before poc_expires_at.
    reminder_days: list[float] = [7, 1]

    # Retention of the messaging tables (shared/retention.py), pruned every `prune_seconds` by
    # each instance, the first time one interval after it starts. Inbox rows (and redelivery
    # counts) must outlive every copy of their message that can still come: `stoppoc dlq replay`
    # refuses dead letters older than this less a day. Unpublished outbox rows are never pruned.
    inbox_retention_days: float = Field(default=30, ge=2)
    outbox_retention_days: float = Field(default=30, gt=0)
    prune_seconds: float = Field(default=600, gt=0)

    # Apply the service's migrations when it starts (turn off where a separate step migrates).
    migrate_on_start: bool = True

    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    return Settings()
