"""Process configuration: one flat settings object, read once from `AGENTCAL_*` variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything agentcal reads from its environment; every field is optional."""

    model_config = SettingsConfigDict(env_prefix="AGENTCAL_", extra="ignore")

    data_dir: Path = Path(".agentcal")
    database_url: str | None = None
    # Comma-separated; the first one encrypts, all of them decrypt (rotation).
    secret_keys: str | None = Field(default=None, repr=False)
    calcom_api_url: str = "https://api.cal.com"
    google_api_url: str = "https://www.googleapis.com/calendar/v3"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_client_id: str | None = None
    google_client_secret: str | None = Field(default=None, repr=False)
    redis_url: str | None = None
    # Where voice platforms reach this server (e.g. `https://cal.example.com`), for the
    # channel URLs agentcal hands out; by default the address the asking request used,
    # which behind a TLS-terminating proxy is the proxy's inside address.
    public_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    # How long a token, a bot's tools and a Cal.com user's event types are cached in
    # memory. This process's own changes apply at once; another replica's within this.
    cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # How long a provider's availability answer is reused for the same calendar and
    # range (0: never). agentcal's own bookings, cancellations and moves empty it at once,
    # in every replica; changes made elsewhere (in the provider) show within this.
    availability_fresh_seconds: float = Field(default=30.0, ge=0, le=600)
    # A provider slower than this gets its last answer (up to 10 minutes old) given in
    # its place, said to be stale; the request goes on and fills the cache. 0: no deadline.
    availability_deadline_ms: int = Field(default=1200, ge=0, le=15_000)

    # Requests: a larger body is a 413 before it is read whole, larger headers a 431.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # Rate limits, `limits` notation, `;` between limits, "off" for none. Per access
    # token on the management API; per bot on its tools and tool calls (a busy voice
    # bot makes a few calls per conversation). In memory per process, or shared by
    # every replica through Redis when `redis_url` is set.
    rate_limit_per_token: str = "50/second;1200/minute"
    rate_limit_per_bot: str = "20/second;600/minute"
    # Failed authentications (401s) per client address; past it, the address is refused.
    rate_limit_auth_failures: str = "20/second;300/minute"
    # Notifications. `serve` delivers them in-process unless `notifications_worker` is
    # false (then run `agentcal worker` processes). Webhook targets that resolve to a
    # private, loopback, link-local or otherwise non-public address are refused unless
    # `notifications_allow_private` (tests, labs, `serve --sandbox`).
    notifications_worker: bool = True
    notifications_allow_private: bool = False
    discord_api_url: str = "https://discord.com/api"
    telegram_api_url: str = "https://api.telegram.org"
    # Seconds between attempts: the last figure repeats until `..._give_up_seconds`
    # after the notification was due; then it is dead. Each wait is jittered by ±20 %.
    notification_retry_seconds: str = "10,30,120,600,3600"
    notification_give_up_seconds: float = Field(default=86_400, gt=0)
    notification_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # A claimed delivery belongs to its worker this long; a dead worker's return after it.
    notification_lease_seconds: float = Field(default=60, gt=0)
    # How often an idle worker looks for due notifications (new ones wake it at once
    # in the same process, and on PostgreSQL in every process).
    notification_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    notification_concurrency: int = Field(default=16, ge=1, le=256)

    @field_validator("notification_retry_seconds")
    @classmethod
    def _retry_seconds(cls, value: str) -> str:
        _waits(value)  # ValueError says what it needs
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        # A claim must outlive the longest attempt, or another worker would take it
        # over mid-send and the receiver would get the notification twice.
        if self.notification_lease_seconds <= self.notification_timeout_seconds + 1:
            raise ValueError(
                "AGENTCAL_NOTIFICATION_LEASE_SECONDS must exceed "
                "AGENTCAL_NOTIFICATION_TIMEOUT_SECONDS by more than a second"
            )
        return self

    @property
    def notification_retry_waits(self) -> tuple[float, ...]:
        return _waits(self.notification_retry_seconds)

    @property
    def availability_deadline(self) -> float | None:
        """The deadline in seconds; None when there is none."""
        return self.availability_deadline_ms / 1000 if self.availability_deadline_ms else None

    @field_validator("rate_limit_per_token", "rate_limit_per_bot", "rate_limit_auth_failures")
    @classmethod
    def _limits(cls, value: str) -> str:
        if value.strip().lower() not in ("", "off"):
            parse_many(value)  # ValueError names what it could not read
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+agentcal:///{(self.data_dir / 'agentcal.db').resolve()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"


def _waits(text: str) -> tuple[float, ...]:
    """`10,30,120` as seconds: finite, none negative, at least one."""
    try:
        waits = tuple(float(part) for part in text.split(","))
    except ValueError:
        waits = ()
    if not waits or not all(0 <= wait < float("inf") for wait in waits):
        raise ValueError("give the seconds between attempts, e.g. '10,30,120,600,3600'")
    return waits
