"""One Settings object, read from the environment (and `.env`), validated at start-up.

The original project's variable names are accepted as fallbacks (see `original_env`) so an
existing `.env` keeps working.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasktracker import original_env
from tasktracker.domain.webhooks import AllowList, parse_schedule
from tasktracker.endpoints import SmtpEndpoint, parse_servers


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


JWT_SECRET_MIN_LENGTH = 32


class Settings(BaseSettings):
    # Read once at start-up, never changed: a variant is a copy (`model_copy(update=...)`).
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8000, ge=0, le=65535, validation_alias="PORT")
    data_dir: Path = Field(Path("./var"), validation_alias="DATA_DIR")

    mongo_url: str | None = Field(None, validation_alias="MONGO_URL")
    mongo_db: str = Field("tasktracker", min_length=1, validation_alias="MONGO_DB")
    amqp_url: str | None = Field(None, validation_alias="AMQP_URL")
    memcached_servers: str | None = Field(None, validation_alias="MEMCACHED_SERVERS")
    smtp_url: str | None = Field(None, validation_alias="SMTP_URL")
    mail_from: str = Field("TaskTracker <no-reply@tasktracker.local>", validation_alias="MAIL_FROM")

    jwt_secret: str | None = Field(
        None, min_length=JWT_SECRET_MIN_LENGTH, validation_alias="JWT_SECRET"
    )
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field(
        "HS256", validation_alias="JWT_ALGORITHM"
    )
    access_token_ttl: int = Field(900, gt=0, validation_alias="ACCESS_TOKEN_TTL")
    refresh_token_ttl: int = Field(1_209_600, gt=0, validation_alias="REFRESH_TOKEN_TTL")

    log_dir: Path | None = Field(None, validation_alias="LOG_DIR")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="LOG_LEVEL"
    )
    log_format: Literal["text", "json"] = Field("text", validation_alias="LOG_FORMAT")

    admin_email: str | None = Field(None, validation_alias="ADMIN_EMAIL")
    admin_password: str | None = Field(None, validation_alias="ADMIN_PASSWORD")

    # argon2id cost; the defaults are OWASP's recommendation (m = 19 MiB, t = 2, p = 1). A stored
    # hash made with other parameters is re-hashed on its user's next successful login.
    password_hash_time_cost: int = Field(2, ge=1, le=20, validation_alias="PASSWORD_HASH_TIME_COST")
    password_hash_memory_kib: int = Field(
        19456, ge=1024, le=4 * 1024 * 1024, validation_alias="PASSWORD_HASH_MEMORY_KIB"
    )
    password_hash_parallelism: int = Field(
        1, ge=1, le=16, validation_alias="PASSWORD_HASH_PARALLELISM"
    )

    session_cache_ttl: int = Field(60, ge=1, le=3600, validation_alias="SESSION_CACHE_TTL")
    # Seconds at most a process reuses a session snapshot it read without asking Memcached
    # (bootstrap.session_cache: with Memcached and RabbitMQ only). A change made elsewhere drops
    # the copies at once through RabbitMQ; this bounds a lost message. 0 turns it off.
    session_local_ttl: float = Field(1.0, ge=0, le=1.0, validation_alias="SESSION_LOCAL_TTL")

    # Flask-Limiter rate strings ("N per second|minute|hour|day", several joined by ";").
    rate_limit_login_ip: str = Field("30/minute", validation_alias="RATE_LIMIT_LOGIN_IP")
    rate_limit_login_account: str = Field("10/minute", validation_alias="RATE_LIMIT_LOGIN_ACCOUNT")
    rate_limit_signup: str = Field("10/minute", validation_alias="RATE_LIMIT_SIGNUP")
    rate_limit_password_reset: str = Field("5/minute", validation_alias="RATE_LIMIT_PASSWORD_RESET")
    rate_limit_api: str = Field("600/minute", validation_alias="RATE_LIMIT_API")
    # Units of a per-user (or per-token) budget a process takes from Memcached at once
    # (api/rate_limit_leases.py); 1 asks Memcached on every request.
    rate_limit_lease: int = Field(10, ge=1, le=100, validation_alias="RATE_LIMIT_LEASE")
    cors_origins: str = Field("", validation_alias="CORS_ORIGINS")
    public_url: str | None = Field(None, validation_alias="PUBLIC_URL")
    password_reset_ttl: int = Field(3600, gt=0, validation_alias="PASSWORD_RESET_TTL")
    smtp_timeout: float = Field(10.0, gt=0, le=300, validation_alias="SMTP_TIMEOUT")

    # Publishing on the request path: one try, short timeouts; the outbox relay does the rest.
    broker_connect_timeout: float = Field(
        0.5, gt=0, le=30, validation_alias="BROKER_CONNECT_TIMEOUT"
    )
    broker_publish_timeout: float = Field(
        1.0, gt=0, le=60, validation_alias="BROKER_PUBLISH_TIMEOUT"
    )
    outbox_relay_interval: float = Field(
        5.0, gt=0, le=3600, validation_alias="OUTBOX_RELAY_INTERVAL"
    )
    outbox_relay_grace: float = Field(10.0, ge=0, le=3600, validation_alias="OUTBOX_RELAY_GRACE")

    agent_prefetch: int = Field(10, ge=1, le=1000, validation_alias="AGENT_PREFETCH")
    agent_max_attempts: int = Field(8, ge=1, le=100, validation_alias="AGENT_MAX_ATTEMPTS")
    agent_retry_delay: float = Field(1.0, gt=0, le=600, validation_alias="AGENT_RETRY_DELAY")
    agent_retry_delay_max: float = Field(
        60.0, gt=0, le=3600, validation_alias="AGENT_RETRY_DELAY_MAX"
    )
    # RabbitMQ's x-delivery-limit on the agent's queues and webhooks.send: a message handed out
    # this many times more without being acknowledged (its consumer crashed or was killed
    # before acknowledging) goes to the dead-letter queue. Part of the queues' declaration, so
    # the same in every process; a new value migrates the queues (adapters/queue_migration.py).
    queue_delivery_limit: int = Field(20, ge=1, le=1000, validation_alias="QUEUE_DELIVERY_LIMIT")
    # How long a letter being sent is reserved for one agent; longer than SMTP_TIMEOUT.
    delivery_lease: float = Field(120.0, gt=0, le=86_400, validation_alias="DELIVERY_LEASE")
    # Notifications: changes to one task for one person within this many seconds (counted from
    # the first one waiting) become one letter; how often the agent looks for batches now due.
    notify_coalesce_seconds: float = Field(
        120.0, ge=0, le=86_400, validation_alias="NOTIFY_COALESCE_SECONDS"
    )
    notify_flush_interval: float = Field(1.0, gt=0, le=60, validation_alias="NOTIFY_FLUSH_INTERVAL")

    # Integrations (DESIGN 14). Personal access tokens: each token's own request budget, and
    # how many failed token logins one address may make (a brute force gets 429s).
    rate_limit_token: str = Field("600/minute", validation_alias="RATE_LIMIT_TOKEN")
    rate_limit_token_failures: str = Field(
        "30/minute", validation_alias="RATE_LIMIT_TOKEN_FAILURES"
    )
    # Webhooks: the delays between attempts ("10s,1m,5m,30m,2h,8h": s, m, h; seconds may be
    # fractional), failed attempts in a row that disable a hook, hosts or CIDRs a hook may
    # reach although private or loopback, the time a receiver has to answer, and how many
    # deliveries the agent sends at once.
    webhook_retry_schedule: str = Field(
        "10s,1m,5m,30m,2h,8h", validation_alias="WEBHOOK_RETRY_SCHEDULE"
    )
    webhook_disable_after: int = Field(20, ge=1, le=1000, validation_alias="WEBHOOK_DISABLE_AFTER")
    webhook_allowed_hosts: str = Field("", validation_alias="WEBHOOK_ALLOWED_HOSTS")
    webhook_timeout: float = Field(10.0, gt=0, le=60, validation_alias="WEBHOOK_TIMEOUT")
    webhook_workers: int = Field(4, ge=1, le=64, validation_alias="WEBHOOK_WORKERS")

    # Serving (`tasktracker api`): granian worker processes and threads per worker.
    api_workers: int = Field(1, ge=1, le=64, validation_alias="API_WORKERS")
    api_threads: int = Field(8, ge=1, le=256, validation_alias="API_THREADS")
    # Named in the X-Served-By response header (unset: no header); e.g. api-1 behind nginx.
    instance_name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._-]{0,64}$", validation_alias="INSTANCE_NAME"
    )
    # How many proxies in front of the API to trust for X-Forwarded-For/-Proto (0: none).
    trusted_proxies: int = Field(0, ge=0, le=5, validation_alias="TRUSTED_PROXIES")
    # The agent's Prometheus port (0: no metrics server).
    agent_metrics_port: int = Field(0, ge=0, le=65535, validation_alias="AGENT_METRICS_PORT")
    # Scheduled alerts: the built-in daily digest (an empty time disables it), what a digest
    # holds, and the scheduler's lease (one active scheduler among several processes).
    alert_digest_time: str = Field("09:00", validation_alias="ALERT_DIGEST_TIME")
    alert_digest_timezone: str = Field("UTC", validation_alias="ALERT_DIGEST_TIMEZONE")
    alert_due_soon_hours: float = Field(
        48.0, gt=0, le=8760, validation_alias="ALERT_DUE_SOON_HOURS"
    )
    alert_max_tasks: int = Field(20, ge=1, le=200, validation_alias="ALERT_MAX_TASKS")
    scheduler_lease: float = Field(15.0, ge=0.5, le=3600, validation_alias="SCHEDULER_LEASE")
    scheduler_poll_interval: float = Field(
        1.0, gt=0, le=60, validation_alias="SCHEDULER_POLL_INTERVAL"
    )
    # How often the active scheduler looks for task reminders whose time has come.
    reminder_poll_interval: float = Field(
        1.0, gt=0, le=60, validation_alias="REMINDER_POLL_INTERVAL"
    )

    # `tasktracker stack` (`make stack`): where its state lives, nginx's port, how many API
    # replicas, and the first replica's port (replica i listens on STACK_API_PORT + i - 1).
    stack_dir: Path = Field(Path("./var/stack"), validation_alias="STACK_DIR")
    stack_port: int = Field(8080, ge=1, le=65535, validation_alias="STACK_PORT")
    stack_replicas: int = Field(2, ge=1, le=16, validation_alias="STACK_REPLICAS")
    stack_api_port: int = Field(8001, ge=1, le=65535, validation_alias="STACK_API_PORT")

    # Projects: who may create one, and the project every user belongs to (created at start-up).
    project_creation: Literal["members", "admins"] = Field(
        "members", validation_alias="PROJECT_CREATION"
    )
    default_project_key: str = Field(
        "GEN", pattern=r"^[A-Z][A-Z0-9]{1,9}$", validation_alias="DEFAULT_PROJECT_KEY"
    )
    migration_batch_size: int = Field(500, ge=1, le=10_000, validation_alias="MIGRATION_BATCH_SIZE")

    max_body_bytes: int = Field(1024 * 1024, gt=0, validation_alias="MAX_BODY_BYTES")
    legacy_list_limit: int = Field(1000, gt=0, le=10_000, validation_alias="LEGACY_LIST_LIMIT")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "mongo_url",
        "amqp_url",
        "memcached_servers",
        "smtp_url",
        "jwt_secret",
        "public_url",
        "instance_name",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("stack_dir", "stack_port", "stack_replicas", "stack_api_port", mode="before")
    @classmethod
    def _blank_is_the_default(cls, value: object) -> object:
        if value == "":
            raise PydanticUseDefault
        return value

    @model_validator(mode="before")
    @classmethod
    def _original_variable_names(cls, data: dict) -> dict:
        """Fill unset settings from the original project's variable names.

        They are read from the environment and from `.env` (names the model does not declare
        reach here from `.env` lower-cased); a setting given under its own name, as a variable
        or a keyword argument, wins. A bad value raises SettingsError naming the variable."""
        data = dict(data)
        dotenv = {str(k).upper(): v for k, v in data.items() if isinstance(v, str)}
        env = {**dotenv, **os.environ}

        def unset(name: str) -> bool:
            return not (data.get(name) or data.get(name.lower()))

        try:
            data.update(original_env.fallbacks(env, unset))
        except original_env.OriginalValueError as exc:
            raise SettingsError(str(exc)) from None
        return data

    @field_validator(
        "rate_limit_login_ip",
        "rate_limit_login_account",
        "rate_limit_signup",
        "rate_limit_password_reset",
        "rate_limit_api",
        "rate_limit_token",
        "rate_limit_token_failures",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError("expected a rate such as '10/minute' or '5 per second'") from None
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _retry_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: str) -> str:
        AllowList.parse(value)
        return value

    @field_validator("memcached_servers")
    @classmethod
    def _memcached_nodes(cls, value: str | None) -> str | None:
        if value:
            parse_servers(value)
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value:
            SmtpEndpoint.parse(value)
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("amqp://", "amqps://", "pyamqp://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @field_validator("alert_digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        from tasktracker.domain.errors import InvalidInput
        from tasktracker.domain.schedules import parse_daily_time

        value = value.strip()
        if value:
            try:
                hour, minute = parse_daily_time(value)
            except InvalidInput:
                raise ValueError("expected 'HH:MM' (00:00-23:59), or empty to disable") from None
            value = f"{hour:02d}:{minute:02d}"
        return value

    @field_validator("alert_digest_timezone")
    @classmethod
    def _digest_zone(cls, value: str) -> str:
        from tasktracker.domain.errors import InvalidInput
        from tasktracker.domain.time_zones import time_zone

        try:
            time_zone(value)
        except InvalidInput:
            raise ValueError("expected an IANA time zone such as 'Europe/Berlin'") from None
        return value

    @model_validator(mode="after")
    def _scheduler_timing(self) -> Settings:
        if self.scheduler_poll_interval * 2 > self.scheduler_lease:
            raise SettingsError(
                "invalid setting SCHEDULER_POLL_INTERVAL: must be at most half of SCHEDULER_LEASE"
            )
        return self

    @model_validator(mode="after")
    def _jwt_secret_with_real_services(self) -> Settings:
        if self.jwt_secret is None and self.uses_real_services:
            raise SettingsError(
                "invalid setting JWT_SECRET: required when MONGO_URL or another real service "
                "is configured"
            )
        return self

    @model_validator(mode="after")
    def _workers_share_a_database(self) -> Settings:
        if self.api_workers > 1 and self.embedded_database:
            raise SettingsError(
                "invalid setting API_WORKERS: several workers need a shared MongoDB (set MONGO_URL)"
            )
        return self

    @field_validator("mongo_url")
    @classmethod
    def _mongo_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value

    @property
    def embedded_database(self) -> bool:
        return self.mongo_url is None

    @property
    def uses_real_services(self) -> bool:
        return any((self.mongo_url, self.amqp_url, self.memcached_servers, self.smtp_url))

    @property
    def resolved_log_dir(self) -> Path:
        return self.log_dir or self.data_dir / "log"

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def webhook_retry_delays(self) -> tuple[timedelta, ...]:
        return parse_schedule(self.webhook_retry_schedule)

    @property
    def webhook_allow_list(self) -> AllowList:
        return AllowList.parse(self.webhook_allowed_hosts)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def resolved_public_url(self) -> str:
        """Where letters' links point: PUBLIC_URL, else the API's own address."""
        return self.public_url or f"http://{self.host}:{self.port}"


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError naming the first bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = error["loc"][0] if error["loc"] else "settings"
        raise SettingsError(f"invalid setting {str(where).upper()}: {error['msg']}") from None
