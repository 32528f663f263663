"""Configuration from the environment (``STOPPOC_*``), with defaults that work on a
machine running RabbitMQ and PostgreSQL locally.

Any setting may instead be read from a file named by ``STOPPOC_<NAME>_FILE``, as Kubernetes and
Docker mount secrets: ``STOPPOC_DATABASE_PASSWORD_FILE=/run/secrets/db-password``. Passwords go in
``STOPPOC_AMQP_PASSWORD`` and ``STOPPOC_DATABASE_PASSWORD`` (or their ``_FILE``), so the URLs can
live in plain configuration; they are put into the URLs here, and the URLs are never logged.
"""

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from stoppoc.contract.base import MAX_MESSAGE_BYTES
from stoppoc.contract.errors import redact

ENV_PREFIX = "STOPPOC_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

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
    # On SIGTERM, how long a service waits for the messages in hand before handing them back to
    # their queue (then it flushes its outbox, up to 10 s): keep the orchestrator's grace above both.
    graceful_timeout_seconds: float = Field(default=20.0, gt=0)
    # The event loop `stoppoc run` runs the services on: uvloop (where it is installed: not on
    # Windows), or Python's own.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    # How often clock-driven work (expired waits, reminders) looks for something to do.
    sweep_seconds: float = Field(default=1.0, gt=0)

    vat_percent: int = Field(default=10, ge=0, le=100)
    # The usage cycles a customer may choose (months), each with its discount in percent.
    usage_cycles: dict[int, int] = {1: 0, 3: 0, 6: 5, 12: 10, 24: 15, 36: 20}
    # How long an order the wallet cannot cover waits for a top-up before it fails (0: fail at once).
    funds_wait_seconds: float = Field(default=1800, ge=0)
    # How long payment holds an order that came before an older order of the customer, waiting
    # for that one; past this it is decided without it (a warning is logged).
    order_gap_seconds: float = Field(default=600, gt=0)
    # Reminders before a cluster's POC wallet expires, in days before poc_expires_at.
    reminder_days: list[float] = [7, 1]

    # Renewals of real resources (days may be fractions, so tests can run the lifecycle in
    # seconds): suspended this long after paid_until, due for deletion this long after it (not
    # before the suspension), reminded these days before it (JSON `[7, 3, 1]` or `7,3,1`), and a
    # failed automatic renewal tried again this often.
    suspend_after_days: float = Field(default=15, ge=0)
    delete_after_days: float = Field(default=30, ge=0)
    renewal_reminder_days: Annotated[list[float], NoDecode] = [7, 3, 1]
    renewal_retry_days: float = Field(default=1, gt=0)
    # Customers' channels (notifier). No SMTP host: e-mail is off (notifications recorded, not mailed).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    mail_from: str = "Stop POC <no-reply@localhost>"
    webhook_timeout_seconds: float = Field(default=10, gt=0)
    # Webhooks to private, loopback and link-local addresses are refused unless this is on.
    webhook_allow_private: bool = False
    # A failed delivery is tried again after this, doubling each time, up to the max attempts.
    delivery_retry_seconds: float = Field(default=30, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    # How long an e-mail about a conversion or renewal waits for the payment events it sums up
    # (they may be handled after it) before it is sent with what is known.
    notification_context_wait_seconds: float = Field(default=60, ge=0)
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

    # Secrets, each also from a file (`STOPPOC_AMQP_PASSWORD_FILE`, …): when set, the password
    # in the URL above is replaced by it.
    amqp_password: SecretStr | None = None
    database_password: SecretStr | None = None
    # The largest credit one `payment.wallet.credit` may bring (VND); a larger one is refused with
    # `wallet.credit_rejected` (`amount_over_ceiling`). Refunds are never refused.
    max_credit: int = Field(default=1_000_000_000, gt=0)

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
    max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=1024)
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

    @field_validator("renewal_reminder_days", mode="before")
    @classmethod
    def _json_or_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [day.strip() for day in text.split(",") if day.strip()]
        return value

    @model_validator(mode="after")
    def _suspended_before_deleted(self) -> "Settings":
        if self.suspend_after_days > self.delete_after_days:
            raise ValueError(
                f"STOPPOC_SUSPEND_AFTER_DAYS ({self.suspend_after_days}) is after STOPPOC_DELETE_AFTER_DAYS"
                f" ({self.delete_after_days}): a resource is suspended before it is due for deletion"
            )
        return self

    @property
    def amqp_urls(self) -> list[str]:
        """Every broker address, the primary first."""
        return [self.amqp_url, *(url for url in self.amqp_failover_urls if url != self.amqp_url)]

    @model_validator(mode="after")
    def _passwords_into_urls(self) -> "Settings":
        if self.amqp_password is not None:
            password = self.amqp_password.get_secret_value()
            self.amqp_url = with_password(self.amqp_url, password)
            self.amqp_failover_urls = [with_password(url, password) for url in self.amqp_failover_urls]
        if self.database_password is not None:
            self.database_url = with_password(self.database_url, self.database_password.get_secret_value())
        return self

    def __repr_args__(self) -> Any:
        # A settings object printed or logged shows no password.
        for name, value in super().__repr_args__():
            if name == "amqp_failover_urls":
                value = [redact(url) for url in value]
            elif name is not None and "password" in name and isinstance(value, str):
                value = "***"
            yield name, redact(value) if name in ("amqp_url", "database_url") else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, FileSettingsSource(settings_cls)


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in place of the one it has (if any)."""
    parts = urlsplit(url)
    if not parts.username:
        raise ValueError(f"a password is set for {redact(url)}, which names no user")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(parts.username, safe='')}:{quote(password, safe='')}@{host}"))


class FileSettingsSource(PydanticBaseSettingsSource):
    """``STOPPOC_<NAME>_FILE=path``: the setting is the file's content, less its final newline.
    Setting both ``STOPPOC_<NAME>`` and its ``_FILE`` is an error, as is a file that cannot be read."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{ENV_PREFIX}{field_name.upper()}"
        path = os.environ.get(f"{variable}_FILE")
        if path is None:
            return None, field_name, False
        if variable in os.environ:
            raise SettingsError(f"{variable} and {variable}_FILE are both set: give one of them")
        try:
            text = Path(path).read_text().removesuffix("\n").removesuffix("\r")
        except OSError as error:
            raise SettingsError(f"{variable}_FILE: cannot read {path}: {error.strerror}") from None
        return text, field_name, self.field_is_complex(field)

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, is_complex = self.get_field_value(field, name)
            if value is not None:
                values[name] = _decoded(name, value) if is_complex else value
        return values


def _decoded(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}_FILE does not hold JSON: {error}") from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
