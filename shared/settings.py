"""Configuration from the environment (``STOPPOC_*``), with defaults that work on a
machine running RabbitMQ and PostgreSQL locally."""

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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

    # Apply the service's migrations when it starts (turn off where a separate step migrates).
    migrate_on_start: bool = True

    log_level: str = "INFO"

    # --- Operating it: HTTP probes and metrics, queues, brokers, limits (docs/operations.md) ---
    # `stoppoc run` serves /health/live, /health/ready and /metrics on this address when the port
    # is set (unset: no HTTP).
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, ge=0, le=65535)
    # Service and dead-letter queues: replicated quorum queues, or classic ones (a single node).
    queue_type: Literal["quorum", "classic"] = "quorum"
    # More addresses of the same RabbitMQ cluster, comma-separated: when the node in use cannot be
    # reached, a service connects to the next one by itself.
    amqp_failover_urls: Annotated[list[str], NoDecode] = []
    # A body larger than this is dead-lettered unread (`message_too_large`). Keep RabbitMQ's own
    # max_message_size at least this large.
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    # While its database is unreachable a service holds the messages in hand (consumers paused);
    # past this it hands them back to the queue, well before RabbitMQ's consumer timeout (30 min).
    outage_hold_seconds: float = Field(default=900, gt=0)
    # Spans as OTLP JSON lines into this file, besides any exporter the OTEL_* variables set.
    traces_file: str | None = None

    @field_validator("amqp_failover_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @property
    def amqp_urls(self) -> list[str]:
        """Every broker address, the primary first."""
        return [self.amqp_url, *(url for url in self.amqp_failover_urls if url != self.amqp_url)]


@lru_cache
def get_settings() -> Settings:
    return Settings()
